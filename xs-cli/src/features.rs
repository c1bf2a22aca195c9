//! `xs features`: a domain's XenStore feature word (Xen 4.21+).
//!
//! The word is a decimal OR of the bits `xs_wire.h` names
//! `XENSTORE_SERVER_FEATURE_*`; the command shows it as the number and the
//! names (`14 ERROR WATCHDEPTH DOMID_ANY`), and takes it as a number or as
//! names joined by commas (`WATCHDEPTH,DOMID_ANY`, `none`).

/// The bits and their names, lowest first.
const BITS: [(u32, &str); 4] = [
    (1, "RECONNECTION"),
    (2, "ERROR"),
    (4, "WATCHDEPTH"),
    (8, "DOMID_ANY"),
];

/// `14 ERROR WATCHDEPTH DOMID_ANY`; bits without a name in hex.
pub fn describe(word: u64) -> String {
    let mut out = word.to_string();
    let mut rest = word;
    for (bit, name) in BITS {
        if word & u64::from(bit) != 0 {
            out.push(' ');
            out.push_str(name);
            rest &= !u64::from(bit);
        }
    }
    let mut bit = 1u64;
    while rest != 0 {
        if rest & bit != 0 {
            out.push_str(&format!(" {bit:#x}"));
            rest &= !bit;
        }
        bit <<= 1;
    }
    out
}

/// A feature word from the command line: a number (decimal or `0x` hex),
/// `none`, or bit names joined by commas (any case).
pub fn parse(text: &str) -> Result<u32, String> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).map_err(|e| format!("{text:?}: {e}"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return text.parse().map_err(|e| format!("{text:?}: {e}"));
    }
    if text.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    text.split(',').try_fold(0, |word, name| {
        let name = name.trim();
        BITS.iter()
            .find(|(_, known)| known.eq_ignore_ascii_case(name))
            .map(|(bit, _)| word | bit)
            .ok_or_else(|| {
                let known: Vec<&str> = BITS.iter().map(|(_, n)| *n).collect();
                format!("unknown feature {name:?} (known: {})", known.join(", "))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_names() {
        let cases: [(u64, &str); 4] = [
            (0, "0"),
            (14, "14 ERROR WATCHDEPTH DOMID_ANY"),
            (1, "1 RECONNECTION"),
            (0x14, "20 WATCHDEPTH 0x10"),
        ];
        for (word, text) in cases {
            assert_eq!(describe(word), text);
        }
    }

    #[test]
    fn parsing() {
        assert_eq!(parse("14"), Ok(14));
        assert_eq!(parse("0x8"), Ok(8));
        assert_eq!(parse("none"), Ok(0));
        assert_eq!(parse("watchdepth,DOMID_ANY"), Ok(12));
        assert!(parse("bogus").unwrap_err().contains("WATCHDEPTH"));
        assert!(parse("99999999999").is_err());
    }
}
