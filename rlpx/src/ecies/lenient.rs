//! Lenient RLP list decoding for EIP-8 messages: decode the known leading fields and skip
//! whatever follows (newer versions may append elements; senders may append padding).

use alloy_rlp::{Decodable, Header};

/// The fields of one RLP list, read front to back; elements left unread are ignored.
#[derive(Debug, Clone)]
pub struct LenientList<'a> {
    payload: &'a [u8],
}

impl<'a> LenientList<'a> {
    /// Reads the list header at the start of `buf`. Bytes after the list are ignored
    /// (EIP-8 padding); a list longer than `buf` is an error.
    pub fn new(buf: &'a [u8]) -> Result<Self, alloy_rlp::Error> {
        let mut rest = buf;
        let header = Header::decode(&mut rest)?;
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let payload = rest
            .get(..header.payload_length)
            .ok_or(alloy_rlp::Error::InputTooShort)?;
        Ok(Self { payload })
    }

    /// Decodes the next element as `T`; an error if the list has no more elements.
    pub fn take<T: Decodable>(&mut self) -> Result<T, alloy_rlp::Error> {
        if self.payload.is_empty() {
            return Err(alloy_rlp::Error::InputTooShort);
        }
        T::decode(&mut self.payload)
    }

    /// The raw encoded elements not read yet (for callers that want to inspect extras).
    pub fn remaining(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_then_extras_and_trailing_bytes_are_skipped() {
        // [1, 0x0203, [4, 5]] followed by junk
        let data = [0xc7, 0x01, 0x82, 0x02, 0x03, 0xc2, 0x04, 0x05, 0xff, 0xee];
        let mut list = LenientList::new(&data).unwrap();
        assert_eq!(list.take::<u64>().unwrap(), 1);
        assert_eq!(list.take::<u64>().unwrap(), 0x0203);
        assert_eq!(list.remaining(), &[0xc2, 0x04, 0x05]);
    }

    #[test]
    fn missing_fields_strings_and_truncation_are_errors() {
        let mut list = LenientList::new(&[0xc1, 0x01]).unwrap();
        assert_eq!(list.take::<u64>().unwrap(), 1);
        assert!(list.take::<u64>().is_err());
        assert!(LenientList::new(&[0x83, 1, 2, 3]).is_err());
        assert!(LenientList::new(&[0xc3, 0x01]).is_err());
        assert!(LenientList::new(&[]).is_err());
    }
}
