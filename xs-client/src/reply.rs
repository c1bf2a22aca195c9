//! Turning a [`Response`] into a typed reply or an [`Error`], in the caller's
//! thread.

use xs_wire::{Frame, Reply, Request};

use crate::proto::Response;
use crate::{Error, Problem};

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
        Ok(Reply::WatchEvent(_)) => Err(Error::unexpected(
            Problem::WrongReplyType { expected: req.op() },
            Some(resp.header),
        )),
        Ok(reply) => Ok(reply),
        Err(e) => Err(Error::unexpected(
            Problem::MalformedReply(e),
            Some(resp.header),
        )),
    }
}
