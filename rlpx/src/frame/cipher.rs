//! The per-session frame cipher: AES-256-CTR keystreams and keccak MACs for both directions.

use aes::Aes256;
use bytes::{BufMut, BytesMut};
use cipher::{KeyInit, KeyIvInit, StreamCipher};

use super::{
    error::FrameError,
    mac::{macs_equal, FrameMac, MacHash},
};

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Largest frame content: the header's size field has 24 bits.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;

/// Encrypted header plus its MAC.
pub(crate) const HEADER_LEN: usize = 32;
/// Length of the MAC after the body.
pub(crate) const MAC_LEN: usize = 16;
/// `c2 80 80`: RLP `[0, 0]` (capability-id, context-id), unused but always sent.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];
/// Encrypt/absorb in chunks so each chunk is still in L1 when keccak reads it.
const CHUNK: usize = 8 * 1024;

/// Padded length of a frame body of `size` bytes.
pub(crate) fn padded(size: usize) -> usize {
    size.div_ceil(16) * 16
}

/// Both directions of a session's frame crypto, generic over the MAC hash for tests.
#[derive(Clone)]
pub(crate) struct FrameCipher<H> {
    egress_aes: Aes256Ctr,
    ingress_aes: Aes256Ctr,
    mac_aes: Aes256,
    egress_mac: FrameMac<H>,
    ingress_mac: FrameMac<H>,
}

impl<H: MacHash> FrameCipher<H> {
    pub(crate) fn new(aes_secret: &[u8; 32], mac_secret: &[u8; 32], egress: H, ingress: H) -> Self {
        let iv = [0u8; 16];
        Self {
            egress_aes: Aes256Ctr::new(aes_secret.into(), &iv.into()),
            ingress_aes: Aes256Ctr::new(aes_secret.into(), &iv.into()),
            mac_aes: Aes256::new(mac_secret.into()),
            egress_mac: FrameMac::new(egress),
            ingress_mac: FrameMac::new(ingress),
        }
    }

    /// Appends one frame carrying `content` to `dst`.
    pub(crate) fn encode(&mut self, content: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        let size = content.len();
        if size > MAX_FRAME_SIZE {
            return Err(FrameError::MessageTooLarge {
                size,
                max: MAX_FRAME_SIZE,
            });
        }
        let mut header = [0u8; 16];
        header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.seal(header, content, padded(size) - size, dst);
        Ok(())
    }

    /// Appends a frame whose plaintext header is `header` (size field included, unchecked)
    /// and whose body is `body` as given, unpadded: both sealed with valid MACs. Lets the fuzz
    /// target hand the decoder headers and bodies no honest encoder would produce.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn seal_raw(&mut self, header: [u8; 16], body: &[u8], dst: &mut BytesMut) {
        self.seal(header, body, 0, dst);
    }

    /// Encrypts and MACs `header`, then `body` followed by `padding` zero bytes, onto `dst`.
    fn seal(&mut self, mut header: [u8; 16], body: &[u8], padding: usize, dst: &mut BytesMut) {
        dst.reserve(HEADER_LEN + body.len() + padding + MAC_LEN);
        self.egress_aes.apply_keystream(&mut header);
        let header_mac = self.egress_mac.header_mac(&self.mac_aes, &header);
        dst.put_slice(&header);
        dst.put_slice(&header_mac);

        let start = dst.len();
        dst.put_slice(body);
        dst.put_bytes(0, padding);
        for chunk in dst[start..].chunks_mut(CHUNK) {
            self.egress_aes.apply_keystream(chunk);
            self.egress_mac.absorb_body(chunk);
        }
        let body_mac = self.egress_mac.body_mac(&self.mac_aes);
        dst.put_slice(&body_mac);
    }

    /// Checks the header MAC, then decrypts the header and returns the frame size.
    pub(crate) fn decode_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
        let mut header_ct = [0u8; 16];
        header_ct.copy_from_slice(&header[..16]);
        let expected = self.ingress_mac.header_mac(&self.mac_aes, &header_ct);
        if !macs_equal(&expected, &header[16..]) {
            return Err(FrameError::HeaderMacMismatch);
        }
        self.ingress_aes.apply_keystream(&mut header_ct);
        // header-data (capability/context ids) is ignored, as geth does.
        Ok(usize::from(header_ct[0]) << 16
            | usize::from(header_ct[1]) << 8
            | usize::from(header_ct[2]))
    }

    /// Checks the frame MAC of `body` (padded ciphertext followed by the MAC), then decrypts
    /// the ciphertext in place. The caller truncates to the frame size.
    pub(crate) fn decode_body(&mut self, body: &mut [u8]) -> Result<(), FrameError> {
        let Some(ct_len) = body.len().checked_sub(MAC_LEN) else {
            return Err(FrameError::FrameMacMismatch);
        };
        let (ciphertext, mac) = body.split_at_mut(ct_len);
        self.ingress_mac.absorb_body(ciphertext);
        let expected = self.ingress_mac.body_mac(&self.mac_aes);
        if !macs_equal(&expected, mac) {
            return Err(FrameError::FrameMacMismatch);
        }
        self.ingress_aes.apply_keystream(ciphertext);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// geth's TestFrameReadWrite fake hash: ignores input, always returns 32 bytes of 0x01.
    #[derive(Clone)]
    struct FakeHash;

    impl MacHash for FakeHash {
        fn absorb(&mut self, _data: &[u8]) {}
        fn digest(&self) -> [u8; 32] {
            [1; 32]
        }
    }

    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/vectors/rlpx_handshake.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn geth_golden_frame_is_reproduced_and_decoded() {
        let vectors = vectors();
        let golden = &vectors["geth_golden_frame"];
        let secret: [u8; 32] =
            hex::decode("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
                .unwrap()
                .try_into()
                .unwrap();
        let expected = hex::decode(golden["frame_hex"].as_str().unwrap()).unwrap();
        let content = hex::decode(golden["expected_frame_data_hex"].as_str().unwrap()).unwrap();
        assert_eq!(content[0], golden["msg_code"].as_u64().unwrap() as u8);

        let mut writer = FrameCipher::new(&secret, &secret, FakeHash, FakeHash);
        let mut out = BytesMut::new();
        writer.encode(&content, &mut out).unwrap();
        assert_eq!(hex::encode(&out), hex::encode(&expected));

        let mut reader = FrameCipher::new(&secret, &secret, FakeHash, FakeHash);
        let header: [u8; HEADER_LEN] = expected[..HEADER_LEN].try_into().unwrap();
        let size = reader.decode_header(&header).unwrap();
        assert_eq!(size, content.len());
        let mut body = expected[HEADER_LEN..].to_vec();
        reader.decode_body(&mut body).unwrap();
        assert_eq!(&body[..size], &content[..]);
    }

    #[test]
    fn padding() {
        assert_eq!(padded(0), 0);
        assert_eq!(padded(1), 16);
        assert_eq!(padded(16), 16);
        assert_eq!(padded(17), 32);
    }
}
