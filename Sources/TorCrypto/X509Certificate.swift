import COpenSSL
import Foundation

/// An X.509 certificate of the kind Tor uses: the TLS link certificate (CERTS type 1, RSA-2048
/// link key signed by KS_relayid_rsa) and the self-signed RSA-1024 identity certificate (CERTS
/// type 2). Immutable; equality is equality of the DER encoding.
///
/// Only what Tor needs is exposed: the DER, the RSA subject key, the validity window and a
/// signature check. Trust decisions (key sizes, slop on the validity window, which key must sign)
/// belong to the caller — see tor-relay-checklist §3.4.
public final class X509Certificate: @unchecked Sendable, Hashable {
    let x509: OpaquePointer  // X509, never mutated after init
    /// The certificate's DER encoding, exactly as issued or parsed.
    public let der: [UInt8]

    private init(owning x509: OpaquePointer, der: [UInt8]) {
        self.x509 = x509
        self.der = der
    }

    deinit { X509_free(x509) }

    /// Parses one DER certificate. Trailing bytes after it are refused.
    public convenience init(der: [UInt8]) throws {
        var cert: OpaquePointer?
        let consumed: Int = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            let start = p
            cert = d2i_X509(nil, &p, buf.count)
            guard let s = start, let e = p else { return 0 }
            return e - s
        }
        guard let cert else {
            ERR_clear_error()
            throw CryptoError(.decodeFailed, "not a DER X.509 certificate (\(der.count) bytes)")
        }
        guard consumed == der.count else {
            X509_free(cert)
            throw CryptoError(.decodeFailed, "trailing bytes after DER X.509 certificate (\(der.count - consumed) bytes)")
        }
        self.init(owning: cert, der: der)
    }

    /// Issues an X.509 v3 certificate (version field 2) with no extensions, signed with
    /// sha256WithRSAEncryption — the shape CTor's `tor_tls_create_certificate` produces.
    public static func issue(subjectKey: RSAPublicKey, issuerKey: RSAPrivateKey,
                             subjectCommonName: String, issuerCommonName: String,
                             notBefore: Date, notAfter: Date, serial: [UInt8]) throws -> X509Certificate {
        guard !serial.isEmpty, serial.count <= 20 else {
            throw CryptoError(.invalidLength, "X.509 serial must be 1–20 bytes, got \(serial.count)")
        }
        guard notBefore <= notAfter else {
            throw CryptoError(.invalidKey, "X.509 validity: notBefore \(notBefore) is after notAfter \(notAfter)")
        }
        guard let x = X509_new() else { throw CryptoError.openssl("X509_new") }
        var owned = true
        defer { if owned { X509_free(x) } }

        guard X509_set_version(x, Int(X509_VERSION_3)) == 1 else { throw CryptoError.openssl("X509_set_version") }
        try setSerial(x, serial)
        guard ASN1_TIME_set(shim_X509_notBefore(x), time_t(notBefore.timeIntervalSince1970.rounded(.down))) != nil,
              ASN1_TIME_set(shim_X509_notAfter(x), time_t(notAfter.timeIntervalSince1970.rounded(.down))) != nil else {
            throw CryptoError.openssl("X.509 validity")
        }
        try withName(subjectCommonName) { name in
            guard X509_set_subject_name(x, name) == 1 else { throw CryptoError.openssl("X509_set_subject_name") }
        }
        try withName(issuerCommonName) { name in
            guard X509_set_issuer_name(x, name) == 1 else { throw CryptoError.openssl("X509_set_issuer_name") }
        }
        guard X509_set_pubkey(x, subjectKey.pkey) == 1 else { throw CryptoError.openssl("X509_set_pubkey") }
        guard X509_sign(x, issuerKey.pkey, EVP_sha256()) > 0 else { throw CryptoError.openssl("X509_sign") }

        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_X509(x, &out)
        guard n > 0, let out else { throw CryptoError.openssl("i2d_X509") }
        let der = Array(UnsafeBufferPointer(start: out, count: Int(n)))
        shim_OPENSSL_free(out)
        owned = false
        return X509Certificate(owning: x, der: der)
    }

    /// The certified (subject) key. Throws if it is not an RSA key.
    public var publicKey: RSAPublicKey {
        get throws {
            guard let key = X509_get0_pubkey(x509) else {
                ERR_clear_error()
                throw CryptoError(.decodeFailed, "X.509 subject public key does not decode")
            }
            guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
                throw CryptoError(.invalidKey, "X.509 subject key is not RSA")
            }
            var out: UnsafeMutablePointer<UInt8>?
            let n = i2d_PublicKey(key, &out)
            guard n > 0, let out else { throw CryptoError.openssl("i2d_PublicKey of X.509 subject key") }
            defer { shim_OPENSSL_free(out) }
            return try RSAPublicKey(pkcs1DER: Array(UnsafeBufferPointer(start: out, count: Int(n))))
        }
    }

    public var notBefore: Date { Self.date(shim_X509_notBefore(x509)) }
    public var notAfter: Date { Self.date(shim_X509_notAfter(x509)) }

    /// True if the certificate's signature verifies under `key`.
    public func isSignedBy(_ key: RSAPublicKey) -> Bool {
        let ok = X509_verify(x509, key.pkey) == 1
        ERR_clear_error()
        return ok
    }

    /// SHA-256 of the DER: what a type-5 Ed25519 cert certifies for the TLS link certificate.
    public var sha256Digest: [UInt8] { Digest.sha256(der) }

    public static func == (a: X509Certificate, b: X509Certificate) -> Bool { a.der == b.der }
    public func hash(into h: inout Hasher) { h.combine(der) }

    // MARK: - OpenSSL plumbing

    private static func setSerial(_ x: OpaquePointer, _ serial: [UInt8]) throws {
        guard let bn = serial.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else {
            throw CryptoError.openssl("BN_bin2bn")
        }
        defer { BN_free(bn) }
        guard let asn1 = BN_to_ASN1_INTEGER(bn, nil) else { throw CryptoError.openssl("BN_to_ASN1_INTEGER") }
        defer { ASN1_INTEGER_free(asn1) }
        guard X509_set_serialNumber(x, asn1) == 1 else { throw CryptoError.openssl("X509_set_serialNumber") }
    }

    private static func withName(_ commonName: String, _ body: (OpaquePointer) throws -> Void) throws {
        guard let name = X509_NAME_new() else { throw CryptoError.openssl("X509_NAME_new") }
        defer { X509_NAME_free(name) }
        let bytes = Array(commonName.utf8)
        guard X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC, bytes, Int32(bytes.count), -1, 0) == 1 else {
            throw CryptoError.openssl("X.509 commonName '\(commonName)'")
        }
        try body(name)
    }

    /// ASN1_TIME (UTCTime or GeneralizedTime, always UTC in a parsed certificate) to Date.
    private static func date(_ t: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let t, ASN1_TIME_to_tm(t, &parts) == 1 else {
            ERR_clear_error()
            return Date(timeIntervalSince1970: 0)  // unreachable for a certificate d2i_X509 accepted
        }
        let days = daysFromCivil(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday))
        let seconds = days * 86_400 + Int(parts.tm_hour) * 3600 + Int(parts.tm_min) * 60 + Int(parts.tm_sec)
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

// MARK: - CTor-style certificate parameters

/// The names, validity window and serial of a certificate, chosen the way CTor chooses them
/// (`tortls_openssl.c` `tor_tls_create_certificate`, `router.c` `router_initialize_tls_context`,
/// `crypto_rand.c` `crypto_random_hostname`). Pure: `now` and randomness are passed in.
public struct X509CertificateParameters: Sendable, Equatable {
    public var subjectCommonName: String
    public var issuerCommonName: String
    public var notBefore: Date
    public var notAfter: Date
    public var serial: [UInt8]

    public init(subjectCommonName: String, issuerCommonName: String, notBefore: Date, notAfter: Date, serial: [UInt8]) {
        self.subjectCommonName = subjectCommonName
        self.issuerCommonName = issuerCommonName
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.serial = serial
    }

    static let day: Int64 = 86_400

    /// TLS link certificate (CERTS type 1): subject `www.<random>.net`, the given issuer name,
    /// lifetime uniformly 5–365 days rounded down to a day (and one second less half the time).
    public static func ctorLink(issuerCommonName: String, now: Date, using rng: inout some RandomSource) -> Self {
        let subject = ctorRandomHostname(suffix: ".net", using: &rng)
        var lifetime = uniform(in: 5 * day ..< 365 * day, using: &rng)
        lifetime -= lifetime % day
        if uniform(in: 0 ..< 2, using: &rng) == 1 { lifetime -= 1 }
        return ctor(subject: subject, issuer: issuerCommonName, lifetime: lifetime, now: now, using: &rng)
    }

    /// Self-signed RSA identity certificate (CERTS type 2): subject = issuer = `commonName`
    /// (CTor uses the link certificate's issuer name), lifetime 365 days.
    public static func ctorIdentity(commonName: String, now: Date, using rng: inout some RandomSource) -> Self {
        ctor(subject: commonName, issuer: commonName, lifetime: 365 * day, now: now, using: &rng)
    }

    /// `www.<8–20 random lowercase base32 characters><suffix>`, as `crypto_random_hostname(8, 20, "www.", suffix)`.
    public static func ctorRandomHostname(suffix: String, using rng: inout some RandomSource) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        let count = Int(uniform(in: 8 ..< 21, using: &rng))
        let random = rng.bytes(count)
        return "www." + String(decoding: random.map { alphabet[Int($0 & 31)] }, as: UTF8.self) + suffix
    }

    /// notBefore is uniform in [now + 2 days − lifetime, now) rounded down to midnight UTC, so at
    /// least a day of validity remains; notAfter = notBefore + lifetime; 8-byte random serial.
    private static func ctor(subject: String, issuer: String, lifetime: Int64, now: Date,
                             using rng: inout some RandomSource) -> Self {
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let earliest = lifetime <= 2 * day ? nowSeconds - 1 : nowSeconds + 2 * day - lifetime
        var start = earliest + uniform(in: 0 ..< (nowSeconds - earliest), using: &rng)
        start -= ((start % day) + day) % day
        return Self(subjectCommonName: subject, issuerCommonName: issuer,
                    notBefore: Date(timeIntervalSince1970: TimeInterval(start)),
                    notAfter: Date(timeIntervalSince1970: TimeInterval(start + lifetime)),
                    serial: rng.bytes(8))
    }

    /// Uniform in `range` by rejection sampling (no modulo bias).
    static func uniform(in range: Range<Int64>, using rng: inout some RandomSource) -> Int64 {
        precondition(!range.isEmpty)
        let span = UInt64(range.upperBound - range.lowerBound)
        let limit = UInt64.max - UInt64.max % span
        while true {
            let v = rng.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if v < limit { return range.lowerBound + Int64(v % span) }
        }
    }
}

extension X509Certificate {
    /// Issues a certificate from `parameters` (names, validity, serial).
    public static func issue(subjectKey: RSAPublicKey, issuerKey: RSAPrivateKey,
                             parameters p: X509CertificateParameters) throws -> X509Certificate {
        try issue(subjectKey: subjectKey, issuerKey: issuerKey, subjectCommonName: p.subjectCommonName,
                  issuerCommonName: p.issuerCommonName, notBefore: p.notBefore, notAfter: p.notAfter, serial: p.serial)
    }

    /// The pair CTor makes when it sets up its TLS context: the link certificate (RSA-2048 link
    /// key signed by the identity key, CERTS type 1) and the self-signed identity certificate
    /// (CERTS type 2), sharing the `www.<random>.com` issuer name.
    public static func issueCTorStyle(linkKey: RSAPublicKey, identityKey: RSAPrivateKey, now: Date,
                                      using rng: inout some RandomSource) throws -> (link: X509Certificate, identity: X509Certificate) {
        let issuerName = X509CertificateParameters.ctorRandomHostname(suffix: ".com", using: &rng)
        let link = try issue(subjectKey: linkKey, issuerKey: identityKey,
                             parameters: .ctorLink(issuerCommonName: issuerName, now: now, using: &rng))
        let identity = try issue(subjectKey: identityKey.publicKey, issuerKey: identityKey,
                                 parameters: .ctorIdentity(commonName: issuerName, now: now, using: &rng))
        return (link, identity)
    }
}
