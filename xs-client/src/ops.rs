//! Every one-request operation as data: the request it sends and how its
//! reply is read.
//!
//! The sync [`crate::Store`] and [`crate::Client`] and the async clients
//! run the same [`Call`]s, each with its own way of waiting, so checks,
//! encoding and reply parsing are written once.

use xs_wire::{Path, Perm, PermList, QuotaQuery, Reply, Request};

use crate::error::Refusal;
use crate::store::{check_domid, DOMID_ANY, DOMID_MAX};
use crate::{Error, Result};

/// Reads the typed reply; `None`: the reply had the wrong shape.
pub(crate) type Parse<T> = for<'r> fn(Reply<'r>) -> Option<T>;

/// One request and the reading of its reply.
pub(crate) struct Call<'a, T> {
    pub(crate) req: Request<'a>,
    pub(crate) parse: Parse<T>,
}

/// The domain id that names the caller itself.
const DOMID_SELF: u32 = 0x7FF0;

pub(crate) fn ack(reply: Reply<'_>) -> Option<()> {
    matches!(reply, Reply::Ack).then_some(())
}

pub(crate) fn names(reply: Reply<'_>) -> Option<Vec<String>> {
    match reply {
        Reply::Directory(n) => Some(owned_names(n)),
        _ => None,
    }
}

/// The names as owned strings, in a vector allocated once.
fn owned_names(names: xs_wire::Names<'_>) -> Vec<String> {
    let mut v = Vec::with_capacity(names.len());
    v.extend(names.iter().map(str::to_owned));
    v
}

fn number(reply: Reply<'_>) -> Option<u64> {
    match reply {
        Reply::Number(n) => Some(n),
        _ => None,
    }
}

fn acked(req: Request<'_>) -> Call<'_, ()> {
    Call { req, parse: ack }
}

pub(crate) fn write<'a>(path: &'a str, value: &'a [u8]) -> Result<Call<'a, ()>> {
    let path = Path::new(path)?;
    Ok(acked(Request::Write { path, value }))
}

pub(crate) fn mkdir(path: &str) -> Result<Call<'_, ()>> {
    Ok(acked(Request::Mkdir {
        path: Path::new(path)?,
    }))
}

pub(crate) fn delete(path: &str) -> Result<Call<'_, ()>> {
    let path = Path::new(path)?;
    if path.as_str() == "/" {
        return Err(Error::Refused(Refusal::DeleteRoot));
    }
    Ok(acked(Request::Rm { path }))
}

pub(crate) fn delete_root() -> Call<'static, ()> {
    acked(Request::Rm { path: Path::ROOT })
}

pub(crate) fn get_perms(path: &str) -> Result<Call<'_, Vec<Perm>>> {
    Ok(Call {
        req: Request::GetPerms {
            path: Path::new(path)?,
        },
        parse: |r| match r {
            Reply::Perms(list) => Some(list.iter().collect()),
            _ => None,
        },
    })
}

pub(crate) fn set_perms<'a>(path: &'a str, perms: &'a [Perm]) -> Result<Call<'a, ()>> {
    let path = Path::new(path)?;
    if let Some(p) = perms
        .iter()
        .find(|p| p.domid > DOMID_MAX && p.domid != DOMID_ANY)
    {
        return Err(Error::Refused(Refusal::DomainId(p.domid)));
    }
    let perms = PermList::new(perms)?;
    Ok(acked(Request::SetPerms { path, perms }))
}

pub(crate) fn transaction_start() -> Call<'static, u32> {
    Call {
        req: Request::TransactionStart,
        parse: |r| match r {
            Reply::TransactionId(id) => Some(id),
            _ => None,
        },
    }
}

pub(crate) fn transaction_end(commit: bool) -> Call<'static, ()> {
    acked(Request::TransactionEnd { commit })
}

pub(crate) fn get_domain_path(domid: u32) -> Result<Call<'static, String>> {
    check_domid(domid)?;
    Ok(Call {
        req: Request::GetDomainPath { domid },
        parse: |r| match r {
            Reply::DomainPath(p) => Some(p.to_owned()),
            _ => None,
        },
    })
}

pub(crate) fn is_domain_introduced(domid: u32) -> Result<Call<'static, bool>> {
    // DOMID_SELF asks about the caller itself.
    if domid != DOMID_SELF {
        check_domid(domid)?;
    }
    Ok(Call {
        req: Request::IsDomainIntroduced { domid },
        parse: |r| match r {
            Reply::Bool(b) => Some(b),
            _ => None,
        },
    })
}

pub(crate) fn introduce_domain(domid: u32, gfn: u64, evtchn: u32) -> Result<Call<'static, ()>> {
    check_domid(domid)?;
    Ok(acked(Request::Introduce { domid, gfn, evtchn }))
}

pub(crate) fn release_domain(domid: u32) -> Result<Call<'static, ()>> {
    check_domid(domid)?;
    Ok(acked(Request::Release { domid }))
}

pub(crate) fn resume_domain(domid: u32) -> Result<Call<'static, ()>> {
    check_domid(domid)?;
    Ok(acked(Request::Resume { domid }))
}

pub(crate) fn set_target(domid: u32, target: u32) -> Result<Call<'static, ()>> {
    check_domid(domid)?;
    check_domid(target)?;
    Ok(acked(Request::SetTarget { domid, target }))
}

pub(crate) fn reset_watches() -> Call<'static, ()> {
    acked(Request::ResetWatches)
}

pub(crate) fn control<'a>(command: &'a str, args: &'a [u8]) -> Call<'a, Vec<u8>> {
    Call {
        req: Request::Control { command, args },
        parse: |r| match r {
            Reply::Text(t) => Some(t.to_vec()),
            _ => None,
        },
    }
}

pub(crate) fn get_features(domid: Option<u32>) -> Result<Call<'static, u64>> {
    domid.map(check_domid).transpose()?;
    Ok(Call {
        req: Request::GetFeature { domid },
        parse: number,
    })
}

pub(crate) fn set_features(domid: u32, features: u32) -> Result<Call<'static, ()>> {
    check_domid(domid)?;
    Ok(acked(Request::SetFeature { domid, features }))
}

pub(crate) fn get_quota_names() -> Call<'static, Vec<String>> {
    Call {
        req: Request::GetQuota(QuotaQuery::Names),
        parse: |r| match r {
            Reply::QuotaNames(n) => Some(n.iter().map(str::to_owned).collect()),
            _ => None,
        },
    }
}

pub(crate) fn get_quota(domid: Option<u32>, name: &str) -> Result<Call<'_, u64>> {
    domid.map(check_domid).transpose()?;
    let query = match domid {
        Some(domid) => QuotaQuery::Domain { domid, name },
        None => QuotaQuery::Global(name),
    };
    Ok(Call {
        req: Request::GetQuota(query),
        parse: number,
    })
}

pub(crate) fn set_quota(domid: Option<u32>, name: &str, value: u32) -> Result<Call<'_, ()>> {
    domid.map(check_domid).transpose()?;
    Ok(acked(Request::SetQuota { domid, name, value }))
}
