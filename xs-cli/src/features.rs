//! `xs features`: a domain's XenStore feature word (Xen 4.21+).
//!
//! The word is shown as the number and the names of its bits
//! (`14 ERROR WATCHDEPTH DOMID_ANY`), and taken as a number or as names
//! joined by commas (`WATCHDEPTH,DOMID_ANY`, `none`); the names are
//! [`xs_client::Features`]'s.

use xs_client::Features;

/// `14 ERROR WATCHDEPTH DOMID_ANY`; bits without a name in hex.
pub fn describe(word: Features) -> String {
    let names = word.to_string();
    if word.bits() == 0 {
        return names;
    }
    format!("{} {}", word.bits(), names.replace('|', " "))
}

/// A feature word from the command line: a number (decimal or `0x` hex),
/// `none`, or bit names joined by commas (any case).
pub fn parse(text: &str) -> Result<Features, String> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16)
            .map(Features::from_bits)
            .map_err(|e| format!("{text:?}: {e}"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return text
            .parse()
            .map(Features::from_bits)
            .map_err(|e| format!("{text:?}: {e}"));
    }
    if text.eq_ignore_ascii_case("none") {
        return Ok(Features::NONE);
    }
    text.split(',').try_fold(Features::NONE, |word, name| {
        let name = name.trim();
        Features::from_name(name)
            .map(|bit| word | bit)
            .ok_or_else(|| {
                format!(
                    "unknown feature {name:?} (known: RECONNECTION, ERROR, WATCHDEPTH, DOMID_ANY)"
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_names() {
        let cases: [(u32, &str); 4] = [
            (0, "0"),
            (14, "14 ERROR WATCHDEPTH DOMID_ANY"),
            (1, "1 RECONNECTION"),
            (0x14, "20 WATCHDEPTH 0x10"),
        ];
        for (word, text) in cases {
            assert_eq!(describe(Features::from_bits(word)), text);
        }
    }

    #[test]
    fn parsing() {
        let bits = |t: &str| parse(t).map(Features::bits);
        assert_eq!(bits("14"), Ok(14));
        assert_eq!(bits("0x8"), Ok(8));
        assert_eq!(bits("none"), Ok(0));
        assert_eq!(bits("watchdepth,DOMID_ANY"), Ok(12));
        assert!(parse("bogus").unwrap_err().contains("WATCHDEPTH"));
        assert!(parse("99999999999").is_err());
    }
}
