//! The exported names. Each C symbol is a one-instruction trampoline
//! (a tail jump) to a Rust function, so that only these names leave the
//! library, under the version node `libxenstore.map` gives them: rustc's
//! own export list would put `#[no_mangle]` functions in an unversioned
//! node of its own, and an assembler alias (`.set`) cannot name a function
//! compiled in another codegen unit.

#[cfg(target_arch = "x86_64")]
macro_rules! tail_jump {
    () => {
        "jmp {0}"
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! tail_jump {
    () => {
        "b {0}"
    };
}

macro_rules! export {
    ($($name:ident => $f:path),* $(,)?) => {
        $(
            std::arch::global_asm!(
                concat!(".pushsection .text.", stringify!($name), ",\"ax\",@progbits"),
                concat!(".globl ", stringify!($name)),
                concat!(".type ", stringify!($name), ", @function"),
                ".p2align 4",
                concat!(stringify!($name), ":"),
                tail_jump!(),
                concat!(".size ", stringify!($name), ", . - ", stringify!($name)),
                ".popsection",
                sym $f,
            );
        )*
        /// Every exported name, for the tests.
        #[cfg(test)]
        pub(crate) const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

use crate::{domains, features, nodes, open, paths, transactions, watches};

export! {
    // VERS_4.0
    xs_open => open::xs_open,
    xs_close => open::xs_close,
    xs_daemon_open => open::xs_daemon_open,
    xs_domain_open => open::xs_domain_open,
    xs_daemon_open_readonly => open::xs_daemon_open_readonly,
    xs_daemon_close => open::xs_daemon_close,
    xs_daemon_destroy_postfork => open::xs_daemon_destroy_postfork,
    xs_directory => nodes::xs_directory,
    xs_read => nodes::xs_read,
    xs_write => nodes::xs_write,
    xs_mkdir => nodes::xs_mkdir,
    xs_rm => nodes::xs_rm,
    xs_restrict => nodes::xs_restrict,
    xs_get_permissions => nodes::xs_get_permissions,
    xs_set_permissions => nodes::xs_set_permissions,
    xs_watch => watches::xs_watch,
    xs_fileno => watches::xs_fileno,
    xs_check_watch => watches::xs_check_watch,
    xs_read_watch => watches::xs_read_watch,
    xs_unwatch => watches::xs_unwatch,
    xs_transaction_start => transactions::xs_transaction_start,
    xs_transaction_end => transactions::xs_transaction_end,
    xs_introduce_domain => domains::xs_introduce_domain,
    xs_set_target => domains::xs_set_target,
    xs_resume_domain => domains::xs_resume_domain,
    xs_release_domain => domains::xs_release_domain,
    xs_get_domain_path => domains::xs_get_domain_path,
    xs_path_is_subpath => paths::xs_path_is_subpath,
    xs_is_domain_introduced => domains::xs_is_domain_introduced,
    xs_control_command => domains::xs_control_command,
    xs_debug_command => domains::xs_debug_command,
    xs_suspend_evtchn_port => domains::xs_suspend_evtchn_port,
    xs_daemon_rundir => paths::xs_daemon_rundir,
    xs_daemon_socket => paths::xs_daemon_socket,
    xs_daemon_socket_ro => paths::xs_daemon_socket_ro,
    xs_write_all => paths::xs_write_all,
    xs_strings_to_perms => paths::xs_strings_to_perms,
    // VERS_4.1
    xs_get_features_supported => features::xs_get_features_supported,
    xs_get_features_domain => features::xs_get_features_domain,
    xs_set_features_domain => features::xs_set_features_domain,
    // VERS_4.2
    xs_get_quota_names => features::xs_get_quota_names,
    xs_get_global_quota => features::xs_get_global_quota,
    xs_set_global_quota => features::xs_set_global_quota,
    xs_get_domain_quota => features::xs_get_domain_quota,
    xs_set_domain_quota => features::xs_set_domain_quota,
    xs_watch_depth => watches::xs_watch_depth,
    xs_watch_try_depth => watches::xs_watch_try_depth,
}

#[cfg(test)]
mod tests {
    use super::NAMES;

    /// The version script and this table name the same symbols.
    #[test]
    fn every_exported_name_has_a_version_and_back() {
        let map = include_str!("../libxenstore.map");
        let mut in_map: Vec<&str> = map
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("xs_"))
            .map(|l| l.trim_end_matches(';'))
            .collect();
        let mut here = NAMES.to_vec();
        in_map.sort_unstable();
        here.sort_unstable();
        assert_eq!(here, in_map);
        assert_eq!(here.len(), 47);
    }
}
