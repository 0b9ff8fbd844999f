//! Snappy (raw block format, EIP-706) for every message after the Hellos.

use std::fmt;

use bytes::Bytes;

/// Largest message accepted or sent, compressed or not: 2^24 − 1 bytes (the RLPx frame size
/// limit, which EIP-706 also applies to the decompressed size).
pub const MAX_MESSAGE_SIZE: usize = (1 << 24) - 1;

/// Why a payload could not be compressed or decompressed.
#[derive(Debug, thiserror::Error)]
pub enum SnappyError {
    /// The payload is over [`MAX_MESSAGE_SIZE`]: a plain payload given to compress, or the
    /// decompressed size a snappy header announces (refused before anything is allocated).
    #[error("snappy payload of {size} bytes (decompressed) exceeds the {max}-byte limit")]
    TooLarge {
        /// The size given or announced.
        size: usize,
        /// The limit, [`MAX_MESSAGE_SIZE`].
        max: usize,
    },
    /// The compressed payload is malformed.
    #[error("malformed snappy payload: {0}")]
    Malformed(snap::Error),
}

fn too_large(size: usize) -> SnappyError {
    SnappyError::TooLarge {
        size,
        max: MAX_MESSAGE_SIZE,
    }
}

/// One connection's snappy encoder and decoder (they keep reusable scratch tables).
pub struct SnappyCodec {
    encoder: snap::raw::Encoder,
    decoder: snap::raw::Decoder,
}

impl fmt::Debug for SnappyCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SnappyCodec")
    }
}

impl Default for SnappyCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl SnappyCodec {
    /// A fresh encoder/decoder pair.
    pub fn new() -> Self {
        Self {
            encoder: snap::raw::Encoder::new(),
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// Compresses one payload. Fails if the payload is over [`MAX_MESSAGE_SIZE`].
    pub fn compress(&mut self, plain: &[u8]) -> Result<Bytes, SnappyError> {
        if plain.len() > MAX_MESSAGE_SIZE {
            return Err(too_large(plain.len()));
        }
        let mut out = vec![0u8; snap::raw::max_compress_len(plain.len())];
        let n = self
            .encoder
            .compress(plain, &mut out)
            .map_err(SnappyError::Malformed)?;
        out.truncate(n);
        Ok(Bytes::from(out))
    }

    /// Decompresses one payload. The length announced in the snappy header is checked against
    /// [`MAX_MESSAGE_SIZE`] before any buffer is allocated.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<Bytes, SnappyError> {
        let len = snap::raw::decompress_len(compressed).map_err(SnappyError::Malformed)?;
        if len > MAX_MESSAGE_SIZE {
            return Err(too_large(len));
        }
        let mut out = vec![0u8; len];
        let n = self
            .decoder
            .decompress(compressed, &mut out)
            .map_err(SnappyError::Malformed)?;
        out.truncate(n);
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut codec = SnappyCodec::new();
        for plain in [
            &b""[..],
            b"a",
            &[7u8; 10_000][..],
            b"hello hello hello hello",
        ] {
            let c = codec.compress(plain).unwrap();
            assert_eq!(&codec.decompress(&c).unwrap()[..], plain);
        }
    }

    /// A snappy header claiming 2^24 bytes is rejected from the header alone: the input has no
    /// body at all, so only the up-front length check can produce `TooLarge` (a decompress
    /// attempt would report a malformed payload instead).
    #[test]
    fn announced_length_checked_before_decompressing() {
        // varint(2^24) = 0x80 0x80 0x80 0x08
        let header_only = [0x80, 0x80, 0x80, 0x08];
        match SnappyCodec::new().decompress(&header_only) {
            Err(SnappyError::TooLarge { size, max }) => {
                assert_eq!((size, max), (1 << 24, MAX_MESSAGE_SIZE))
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // a huge claim (2^32 - 1) is also rejected without allocating
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            SnappyCodec::new().decompress(&huge),
            Err(SnappyError::TooLarge { .. }) | Err(SnappyError::Malformed(_))
        ));
        // exactly the limit is allowed past the header check (then fails on the missing body)
        let at_limit = [0xff, 0xff, 0xff, 0x07];
        assert!(matches!(
            SnappyCodec::new().decompress(&at_limit),
            Err(SnappyError::Malformed(_))
        ));
    }

    #[test]
    fn oversize_plain_rejected_on_send() {
        let big = vec![0u8; MAX_MESSAGE_SIZE + 1];
        assert!(matches!(
            SnappyCodec::new().compress(&big),
            Err(SnappyError::TooLarge { .. })
        ));
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(SnappyCodec::new().decompress(&[0x05, 0x00, 0x01]).is_err());
        assert!(SnappyCodec::new().decompress(&[]).is_err());
    }
}
