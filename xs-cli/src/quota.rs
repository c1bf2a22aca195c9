//! `xs quota`: the daemon's quotas, global or a domain's (Xen 4.22+).
//!
//! Arguments are quota names to show or `NAME=VALUE` pairs to set (all of
//! one kind), as `xl xenstore-quota-set` takes them; `0` means "no check".
//! Without names every quota the daemon lists is shown, one `NAME VALUE`
//! line each; one name alone prints only its value, for scripts.

/// What `xs quota` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Show every quota.
    List,
    /// Show these.
    Get(Vec<&'a str>),
    /// Set these.
    Set(Vec<(&'a str, u32)>),
}

/// Sorts the arguments into one action; mixing gets and sets is refused.
pub fn action(args: &[String]) -> Result<Action<'_>, String> {
    if args.is_empty() {
        return Ok(Action::List);
    }
    let sets = args.iter().filter(|a| a.contains('=')).count();
    if sets == 0 {
        return Ok(Action::Get(args.iter().map(String::as_str).collect()));
    }
    if sets != args.len() {
        return Err("give either quota names to show or NAME=VALUE pairs to set".into());
    }
    args.iter()
        .map(|arg| {
            let (name, value) = arg.split_once('=').unwrap_or((arg, ""));
            let value = value
                .parse::<u32>()
                .map_err(|e| format!("{arg:?}: the value must be a number ({e})"))?;
            Ok((name, value))
        })
        .collect::<Result<_, String>>()
        .map(Action::Set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn actions() {
        assert_eq!(action(&[]), Ok(Action::List));
        let get = args(&["nodes", "watches"]);
        assert_eq!(action(&get), Ok(Action::Get(vec!["nodes", "watches"])));
        let set = args(&["nodes=5", "watches=0"]);
        assert_eq!(
            action(&set),
            Ok(Action::Set(vec![("nodes", 5), ("watches", 0)]))
        );
        assert!(action(&args(&["nodes", "watches=1"])).is_err());
        assert!(action(&args(&["nodes=x"])).unwrap_err().contains("number"));
        assert!(action(&args(&["nodes=-1"])).is_err());
    }
}
