//! Where encoded bytes go: a counter (to size a frame), a slice, or a
//! `bytes::BufMut`. Encoders describe a payload once, as pieces, and every
//! sink consumes the same description. The description is generic over
//! the sink, so that counting folds into a sum of lengths and writing into
//! plain copies.

/// Receives the pieces of an encoded payload in order.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    /// `bytes` and a NUL.
    fn put_cstr(&mut self, bytes: &[u8]) {
        self.put(bytes);
        self.put(b"\0");
    }
}

/// Counts bytes without storing them.
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// Writes into a slice already checked to be large enough.
pub(crate) struct SliceSink<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) pos: usize,
}

impl Sink for SliceSink<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

#[cfg(feature = "bytes")]
pub(crate) struct BufSink<'a, B: bytes::BufMut>(pub(crate) &'a mut B);

#[cfg(feature = "bytes")]
impl<B: bytes::BufMut> Sink for BufSink<'_, B> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.put_slice(bytes);
    }
}
