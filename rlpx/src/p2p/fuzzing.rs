//! Plain entry points for the fuzz targets; none of them may panic on any input (a failed
//! assertion in one of them is a broken property of the decoder under it).

use super::{
    disconnect::{
        decode_compressed, decode_disconnect, decode_plain, encode_disconnect, DisconnectReason,
    },
    hello::{Hello, MAX_HELLO_SIZE},
    snappy::SnappyCodec,
};

/// `rlpx_hello`: a Hello payload from the network (also tried as a Disconnect payload, the
/// other message allowed first).
pub fn decode_hello(data: &[u8]) {
    if let Ok(hello) = Hello::decode(data) {
        // Whatever decodes must re-encode to something that decodes to the same value.
        let again = Hello::decode(&hello.encode());
        debug_assert!(again.as_ref().ok() == Some(&hello) || hello.encode().len() > MAX_HELLO_SIZE);
    }
    let _ = decode_disconnect(data, None);
}

/// `rlpx_snappy`: a compressed payload from the network.
pub fn decode_snappy(data: &[u8]) {
    let mut codec = SnappyCodec::new();
    if let Ok(plain) = codec.decompress(data) {
        if let Ok(again) = codec.compress(&plain) {
            debug_assert!(codec.decompress(&again).ok().as_deref() == Some(&plain[..]));
        }
    }
    let _ = decode_disconnect(data, Some(&mut codec));
}

/// `p2p_disconnect`: a Disconnect payload from the network.
///
/// Checks that the payload decodes as specified with snappy on (compressed reading first)
/// and off (plain reading first), that a decoded reason survives its canonical encoding, and
/// that the reason named by the first byte decodes from each form geth and others send:
/// `[reason]` and a bare reason (plain, with snappy off or on), `[reason, <data>]` (extra
/// elements ignored), and all of those compressed with snappy on.
pub fn decode_disconnect_payload(data: &[u8]) {
    let mut codec = SnappyCodec::new();
    let plain = decode_plain(data);
    let compressed = decode_compressed(data, &mut codec);
    let off = decode_disconnect(data, None);
    assert_eq!(off, plain.or(compressed));
    assert_eq!(
        decode_disconnect(data, Some(&mut codec)),
        compressed.or(plain)
    );
    if let Some(reason) = off {
        assert_eq!(
            decode_disconnect(&encode_disconnect(reason), None),
            Some(reason)
        );
    }

    let Some((&code, rest)) = data.split_first() else {
        return;
    };
    let reason = DisconnectReason::from(code);
    let bare = alloy_rlp::encode(code);
    // `[reason, <rest as one string>]`: elements after the reason are ignored.
    let mut items = bare.clone();
    alloy_rlp::Encodable::encode(rest, &mut items);
    let mut extended = Vec::new();
    alloy_rlp::Header {
        list: true,
        payload_length: items.len(),
    }
    .encode(&mut extended);
    extended.extend_from_slice(&items);
    for (form, short) in [
        (encode_disconnect(reason), true),
        (bare, true),
        (extended, false),
    ] {
        assert_eq!(decode_disconnect(&form, None), Some(reason), "{form:02x?}");
        if short {
            // What ethereumjs does: a plain reason after snappy is on.
            assert_eq!(
                decode_disconnect(&form, Some(&mut codec)),
                Some(reason),
                "{form:02x?}"
            );
        }
        if let Ok(compressed) = codec.compress(&form) {
            assert_eq!(
                decode_disconnect(&compressed, Some(&mut codec)),
                Some(reason),
                "{form:02x?}"
            );
        }
    }
}
