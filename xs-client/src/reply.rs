//! Turning a [`Response`] into a typed reply or an [`Error`], in the caller's
//! thread.

use xs_wire::{Frame, Reply, Request};

use crate::protocol::Response;
use crate::Error;

/// Parses `resp` as the reply to `req`; an `ERROR` reply becomes
/// [`Error::Daemon`] naming the request's path.
pub(crate) fn parse<'r>(req: &Request<'_>, resp: &'r Response) -> Result<Reply<'r>, Error> {
    let frame = Frame {
        header: resp.header,
        payload: &resp.payload,
    };
    match Reply::parse(req.op(), req.reply_kind(), &frame) {
        Ok(Reply::Error(e)) => Err(Error::daemon(
            req.op(),
            req.path().map(|p| p.as_str()),
            e.name(),
        )),
        Ok(Reply::WatchEvent(_)) => Err(Error::UnexpectedPacket(
            "watch event in place of a reply".into(),
        )),
        Ok(reply) => Ok(reply),
        Err(e) => Err(Error::UnexpectedPacket(
            format!("{} reply: {e}", req.op()).into(),
        )),
    }
}
