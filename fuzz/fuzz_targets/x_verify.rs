//! The X signature check over arbitrary secrets, headers and bodies: it never panics, it
//! accepts exactly the signature of the body it is given, and never that of another body.
#![no_main]

use hark_shared::channels::x::{SignatureError, decode_signature, sign, verify_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: where the secret ends; then the header up to a NUL; the rest is the body.
    let Some((&split, rest)) = data.split_first() else { return };
    let split = usize::from(split).min(rest.len());
    let (secret, rest) = rest.split_at(split);
    let secret = String::from_utf8_lossy(secret);
    let (header, body) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let header = String::from_utf8_lossy(header);

    let verdict = verify_signature(&secret, body, Some(&header));
    if verdict.is_ok() {
        // Only a well-formed header can pass, and it must be this body's signature.
        assert_eq!(decode_signature(Some(&header)).unwrap(), decode_signature(Some(&sign(&secret, body))).unwrap());
    }
    let genuine = sign(&secret, body);
    assert_eq!(verify_signature(&secret, body, Some(&genuine)), Ok(()));
    let mut other = body.to_vec();
    other.push(b'x');
    assert_eq!(verify_signature(&secret, &other, Some(&genuine)), Err(SignatureError::Mismatch));
    assert_eq!(verify_signature(&secret, body, None), Err(SignatureError::Missing));
});
