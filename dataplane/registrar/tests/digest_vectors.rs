//! Published digest examples: the crate must reproduce the RFCs' responses.

use ferrovox_registrar::digest::{Algorithm, DigestResponse, ha1};
use ferrovox_sip::Auth;

/// RFC 2617 §3.5 (MD5, qop=auth). The RFC's password is "Circle Of Life".
#[test]
fn rfc2617_section_3_5_example_verifies() {
    let value = br#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let auth = Auth::parse(value, "Authorization").expect("RFC example parses");
    let d = DigestResponse::from_auth(&auth).expect("RFC example is complete");
    assert_eq!(d.algorithm, Algorithm::Md5);
    assert_eq!(d.nonce_count(), Some(1));
    let key = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(d.expected("GET", &key), "6629fae49393a05397450978507c4ef1");
    assert!(d.matches("GET", &key));
    assert!(!d.matches("POST", &key));
    let wrong = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle of Life",
    );
    assert!(!d.matches("GET", &wrong));
}

const RFC7616_HEADER_TAIL: &str = r#"username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       qop=auth,
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;

/// RFC 7616 §3.9.1, SHA-256 answer. The RFC's password is "Circle of Life".
#[test]
fn rfc7616_section_3_9_1_sha256_example_verifies() {
    let value = format!(
        "Digest algorithm=SHA-256, {RFC7616_HEADER_TAIL}, \
         response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
    );
    let auth = Auth::parse(value.as_bytes(), "Authorization").expect("RFC example parses");
    let d = DigestResponse::from_auth(&auth).expect("RFC example is complete");
    assert_eq!(d.algorithm, Algorithm::Sha256);
    let key = ha1(
        Algorithm::Sha256,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(
        d.expected("GET", &key),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert!(d.matches("GET", &key));
    // The same answer under MD5 keys does not verify.
    let md5_key = ha1(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert!(!d.matches("GET", &md5_key));
}

/// RFC 7616 §3.9.1, the MD5 answer to the same challenge.
#[test]
fn rfc7616_section_3_9_1_md5_example_verifies() {
    let value = format!(
        "Digest algorithm=MD5, {RFC7616_HEADER_TAIL}, \
         response=\"8ca523f5e9506fed4657c9700eebdbec\""
    );
    let auth = Auth::parse(value.as_bytes(), "Authorization").expect("RFC example parses");
    let d = DigestResponse::from_auth(&auth).expect("RFC example is complete");
    let key = ha1(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(d.expected("GET", &key), "8ca523f5e9506fed4657c9700eebdbec");
}

/// RFC 2069 form (no qop): response = MD5(HA1:nonce:HA2), checked against
/// a value computed independently (Python's hashlib) from the RFC 2617
/// example's inputs.
#[test]
fn legacy_response_without_qop() {
    let value = br#"Digest username="Mufasa", realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html",
        response="670fd8c2df070c60b045671b8b24ff02""#;
    let auth = Auth::parse(value, "Authorization").expect("parses");
    let d = DigestResponse::from_auth(&auth).expect("complete");
    assert_eq!(d.nonce_count(), None);
    let key = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(d.expected("GET", &key), "670fd8c2df070c60b045671b8b24ff02");
}

#[test]
fn incomplete_or_foreign_credentials_are_errors() {
    for (value, why) in [
        (&br#"Bearer token="abc""#[..], "not digest"),
        (br#"Digest username="a", realm="r", nonce="n", uri="u""#, "no response"),
        (
            br#"Digest username="a", realm="r", nonce="n", uri="u", response="0123""#,
            "short response",
        ),
        (
            br#"Digest username="a", realm="r", nonce="n", uri="u", qop=auth, nc=1, cnonce="c", response="0123456789abcdef0123456789abcdef""#,
            "nc not 8 digits",
        ),
        (
            br#"Digest username="a", realm="r", nonce="n", uri="u", qop=auth-int, nc=00000001, cnonce="c", response="0123456789abcdef0123456789abcdef""#,
            "auth-int",
        ),
        (
            br#"Digest username="a", username="b", realm="r", nonce="n", uri="u", response="0123456789abcdef0123456789abcdef""#,
            "duplicate",
        ),
        (
            br#"Digest algorithm=SHA-512-256, username="a", realm="r", nonce="n", uri="u", response="0123456789abcdef0123456789abcdef""#,
            "unknown algorithm",
        ),
    ] {
        let auth = Auth::parse(value, "Authorization").expect("syntax is fine");
        assert!(DigestResponse::from_auth(&auth).is_err(), "{why}");
    }
}
