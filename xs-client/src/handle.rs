//! One handle type behind every [`crate::Store`]: a router and a
//! transaction id (0 outside one), as `ocaml-xenstore` has one handle with or
//! without a transaction.
//!
//! [`crate::Client`], [`crate::Transaction`] and the compat layer each hand
//! out a [`Handle`]; the node operations are written once, over it.

use xs_wire::{Op, Path, Reply, Request};

use crate::ops::{Call, Parse};
use crate::proto::{Deadline, Response};
use crate::router::Tx;
use crate::{reply, Error, Problem, Result, Router};

/// Requests on `router` in transaction `tx`, each giving up at its
/// round-trip deadline or at `limit`, whichever comes first.
#[derive(Clone, Copy)]
pub struct Handle<'a> {
    pub(crate) router: &'a Router,
    pub(crate) tx: Tx,
    pub(crate) limit: Option<Deadline>,
}

impl<'a> Handle<'a> {
    /// Requests in transaction `tx_id` (0: none), not tied to a
    /// connection epoch (the compat layer's explicit ids).
    pub(crate) fn new(router: &'a Router, tx_id: u32) -> Handle<'a> {
        Handle::in_tx(
            router,
            Tx {
                id: tx_id,
                epoch: None,
            },
        )
    }

    pub(crate) fn in_tx(router: &'a Router, tx: Tx) -> Handle<'a> {
        Handle {
            router,
            tx,
            limit: None,
        }
    }

    /// Sends `req` and waits for the reply.
    pub(crate) fn call(&self, req: &Request<'_>) -> Result<Response> {
        self.router.call(req, self.tx, self.limit)
    }

    /// Sends `req` and parses the reply with `f` (`None`: the reply had
    /// the wrong shape).
    pub(crate) fn run<T>(
        &self,
        req: Request<'_>,
        f: impl FnOnce(Reply<'_>) -> Option<T>,
    ) -> Result<T> {
        let resp = self.call(&req)?;
        shape(&req, reply::parse(&req, &resp)?, f)
    }

    /// Runs one [`Call`].
    pub(crate) fn exec<T>(&self, call: Call<'_, T>) -> Result<T> {
        self.run(call.req, call.parse)
    }

    /// A node's value: the reply's buffer itself. Inlined into its
    /// caller (a path known there is checked there, at compile time).
    #[inline]
    pub(crate) fn read(&self, path: &str) -> Result<Vec<u8>> {
        let req = Request::Read {
            path: Path::new(path)?,
        };
        match self.call(&req) {
            // The value taken where the reply lies, without moving the
            // whole reply on (the usual case).
            Ok(Response {
                header, payload, ..
            }) if header.op == Op::Read => Ok(payload),
            reply => value_of(&req, reply?),
        }
    }

    /// Sends any request (op and raw payload) and returns the raw reply
    /// payload; an error reply is [`Error::Daemon`].
    pub(crate) fn raw(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>> {
        raw_payload(op, self.router.call_raw(op, payload, self.tx)?)
    }
}

/// A READ's reply: the value is the payload itself, not copied.
pub(crate) fn value_of(req: &Request<'_>, resp: Response) -> Result<Vec<u8>> {
    if resp.header.op == Op::Read {
        return Ok(resp.payload);
    }
    // Anything else is an error reply (or a protocol violation).
    reply::parse(req, &resp)?;
    Err(wrong_shape(req, &resp))
}

/// A raw request's reply payload; an error reply is [`Error::Daemon`].
pub(crate) fn raw_payload(op: Op, resp: Response) -> Result<Vec<u8>> {
    if resp.header.op == Op::Error {
        let name = resp.payload.split(|&b| b == 0).next().unwrap_or_default();
        return Err(Error::daemon(op, None, &String::from_utf8_lossy(name)));
    }
    Ok(resp.payload)
}

/// Parses a reply with a [`Call`]'s parser.
pub(crate) fn parse_call<T>(req: &Request<'_>, parse: Parse<T>, resp: &Response) -> Result<T> {
    shape(req, reply::parse(req, resp)?, parse)
}

/// Applies `f` to a parsed reply; the wrong shape is an error with facts.
pub(crate) fn shape<T>(
    req: &Request<'_>,
    reply: Reply<'_>,
    f: impl FnOnce(Reply<'_>) -> Option<T>,
) -> Result<T> {
    f(reply).ok_or_else(|| Error::unexpected(Problem::WrongShape { request: req.op() }, None))
}

fn wrong_shape(req: &Request<'_>, resp: &Response) -> Error {
    Error::unexpected(Problem::WrongShape { request: req.op() }, Some(resp.header))
}

impl crate::store::sealed::Sealed for Handle<'_> {
    fn handle(&self) -> Handle<'_> {
        *self
    }
}

impl crate::Store for Handle<'_> {}
