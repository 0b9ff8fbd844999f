//! The one lenient list decoder every packet uses: read the known fields of an RLP list
//! in order and ignore whatever follows them (EIP-8 forward compatibility).

use alloy_rlp::{Decodable, Header};

use super::error::DecodeError;

/// A cursor over the items of one RLP list.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
    list: &'static str,
}

/// Decodes the RLP list at the start of `buf` with `read`, which takes the fields it knows
/// from the [`Fields`] cursor. Items `read` does not take are skipped unvalidated, as EIP-8
/// asks. `buf` is advanced past the whole list.
pub(crate) fn decode_list<'a, T>(
    buf: &mut &'a [u8],
    list: &'static str,
    read: impl FnOnce(&mut Fields<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let payload =
        Header::decode_bytes(buf, true).map_err(|source| DecodeError::NotAList { list, source })?;
    read(&mut Fields {
        rest: payload,
        list,
    })
}

impl<'a> Fields<'a> {
    /// True when every item has been taken.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Bytes of the items not taken yet.
    pub(crate) fn remaining_len(&self) -> usize {
        self.rest.len()
    }

    /// Takes the next item with a custom decoder; the field must be present.
    pub(crate) fn with<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut &'a [u8], &'static str) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if self.rest.is_empty() {
            return Err(DecodeError::MissingField {
                list: self.list,
                field,
            });
        }
        read(&mut self.rest, self.list)
    }

    /// Takes the next item as an RLP value of type `T`; the field must be present.
    pub(crate) fn value<T: Decodable>(&mut self, field: &'static str) -> Result<T, DecodeError> {
        self.with(field, |buf, list| {
            T::decode(buf).map_err(|source| DecodeError::InvalidField {
                list,
                field,
                source,
            })
        })
    }

    /// Takes the next item as a byte string of exactly `N` bytes.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        self.with(field, |buf, list| {
            let invalid = |source| DecodeError::InvalidField {
                list,
                field,
                source,
            };
            let bytes = Header::decode_bytes(buf, false).map_err(invalid)?;
            bytes
                .try_into()
                .map_err(|_| invalid(alloy_rlp::Error::UnexpectedLength))
        })
    }

    /// Takes the next item as `T` when it is present and decodes; otherwise `None`.
    ///
    /// For optional trailing fields added by later EIPs (EIP-868's `enr-seq`): an item of
    /// another shape in that slot is an unknown EIP-8 extension, not an error.
    pub(crate) fn optional<T: Decodable>(&mut self) -> Option<T> {
        let mut probe = self.rest;
        let value = T::decode(&mut probe).ok()?;
        self.rest = probe;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_items_and_trailing_bytes_are_ignored() {
        // [1, 2, [3], "abc"] followed by junk after the list
        let data = [
            0xc8, 0x01, 0x02, 0xc1, 0x03, 0x83, b'a', b'b', b'c', 0xff, 0xff,
        ];
        let mut buf = &data[..];
        let (a, b) = decode_list(&mut buf, "test", |f| {
            Ok((f.value::<u8>("a")?, f.value::<u8>("b")?))
        })
        .unwrap();
        assert_eq!((a, b), (1, 2));
        assert_eq!(buf, &[0xff, 0xff]);
    }

    #[test]
    fn missing_field_names_the_field() {
        let data = [0xc1, 0x01];
        let err = decode_list(&mut &data[..], "PING", |f| {
            f.value::<u8>("version")?;
            f.value::<u64>("expiration")
        })
        .unwrap_err();
        assert_eq!(
            err,
            DecodeError::MissingField {
                list: "PING",
                field: "expiration"
            }
        );
    }

    #[test]
    fn optional_field_of_the_wrong_shape_is_none() {
        let data = [0xc2, 0xc1, 0x01];
        let seq = decode_list(&mut &data[..], "t", |f| Ok(f.optional::<u64>())).unwrap();
        assert_eq!(seq, None);
        let data = [0xc1, 0x05];
        let seq = decode_list(&mut &data[..], "t", |f| Ok(f.optional::<u64>())).unwrap();
        assert_eq!(seq, Some(5));
        let data = [0xc0];
        let seq = decode_list(&mut &data[..], "t", |f| Ok(f.optional::<u64>())).unwrap();
        assert_eq!(seq, None);
    }

    #[test]
    fn a_string_is_not_a_list() {
        let data = [0x83, 1, 2, 3];
        let err = decode_list(&mut &data[..], "PING", |_| Ok(())).unwrap_err();
        assert!(matches!(err, DecodeError::NotAList { list: "PING", .. }));
        let data = [0xc5, 1];
        let err = decode_list(&mut &data[..], "PING", |_| Ok(())).unwrap_err();
        assert!(matches!(err, DecodeError::NotAList { .. }));
    }
}
