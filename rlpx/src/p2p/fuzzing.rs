//! Plain entry points for the fuzz targets; none of them may panic on any input.

use super::{
    disconnect::decode_disconnect,
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
