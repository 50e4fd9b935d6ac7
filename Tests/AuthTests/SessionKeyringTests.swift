import Auth
import Foundation
import Testing

/// The sealed cookies: AES-256-GCM with rotating keys. Every change to a sealed value, every
/// key that is not on the ring and every other purpose must fail to open.
@Suite("SessionKeyring")
struct SessionKeyringTests {
    static let first = [UInt8](repeating: 1, count: 32)
    static let second = [UInt8](repeating: 2, count: 32)
    static let plaintext = Array(#"{"sub":"abdullah","sid":"s-1"}"#.utf8)

    @Test("a sealed value opens with the same ring and purpose, and seals differently each time")
    func roundTrip() throws {
        let ring = try SessionKeyring(keys: [Self.first])
        let a = ring.seal(Self.plaintext, purpose: "session")
        let b = ring.seal(Self.plaintext, purpose: "session")
        #expect(a != b)
        #expect(a.hasPrefix("v1."))
        #expect(ring.open(Substring(a), purpose: "session") == Self.plaintext)
        #expect(ring.open(Substring(b), purpose: "session") == Self.plaintext)
    }

    @Test("every single-character change and every truncation fails")
    func tampering() throws {
        let ring = try SessionKeyring(keys: [Self.first])
        let sealed = Array(ring.seal(Self.plaintext, purpose: "session"))
        for index in sealed.indices {
            var changed = sealed
            changed[index] = changed[index] == "A" ? "B" : "A"
            #expect(ring.open(Substring(String(changed)), purpose: "session") == nil, "change at \(index)")
        }
        for length in 0..<sealed.count {
            #expect(ring.open(Substring(String(sealed.prefix(length))), purpose: "session") == nil, "cut at \(length)")
        }
    }

    @Test("rotation: the first key seals, listed keys open, a removed key opens nothing")
    func rotation() throws {
        let old = try SessionKeyring(keys: [Self.first])
        let rotated = try SessionKeyring(keys: [Self.second, Self.first])
        let retired = try SessionKeyring(keys: [Self.second])
        let sealedByOld = old.seal(Self.plaintext, purpose: "session")
        #expect(rotated.open(Substring(sealedByOld), purpose: "session") == Self.plaintext)
        #expect(retired.open(Substring(sealedByOld), purpose: "session") == nil)
        let sealedByRotated = rotated.seal(Self.plaintext, purpose: "session")
        #expect(retired.open(Substring(sealedByRotated), purpose: "session") == Self.plaintext)
        #expect(old.open(Substring(sealedByRotated), purpose: "session") == nil)
    }

    @Test("a value sealed for one purpose never opens as another")
    func purposes() throws {
        let ring = try SessionKeyring(keys: [Self.first])
        let state = ring.seal(Self.plaintext, purpose: "signin")
        #expect(ring.open(Substring(state), purpose: "session") == nil)
    }

    @Test("key files: base64, base64url and hex keys, comments; errors name the line only")
    func keyFiles() throws {
        let base64 = Data(Self.first).base64EncodedString()
        let hex = Self.second.map { String(format: "%02x", $0) }.joined()
        let parsed = try SessionKeyring.parseKeyFile("# current first\n\(base64)\n\n\(hex)\n").get()
        #expect(parsed == [Self.first, Self.second])
        #expect(throws: SessionKeyring.KeyFileError(line: 2)) { try SessionKeyring.parseKeyFile("\(base64)\nshort\n").get() }
        #expect(throws: SessionKeyring.KeyFileError(line: 0)) { try SessionKeyring.parseKeyFile("# nothing\n").get() }
        let sixteen = Data(repeating: 7, count: 16).base64EncodedString()
        #expect(throws: SessionKeyring.KeyFileError(line: 1)) { try SessionKeyring.parseKeyFile(sixteen).get() }
    }

    @Test("the PKCE challenge is RFC 7636 appendix B's")
    func pkce() {
        #expect(
            SessionKeyring.pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test("sessions survive sealing; a session cookie of another version does not open")
    func sessions() throws {
        let ring = try SessionKeyring(keys: [Self.first])
        let user = AuthenticatedUser(
            subject: "u-1", username: "abdullah", email: nil, fullName: nil, roles: ["user"], sessionID: "s-1", issuer: "https://i",
            issuedAt: 10)
        let session = BrowserSession(
            user: user, issuer: "https://i", accessExpiresAt: 20, refreshExpiresAt: 30, refreshToken: "r", idToken: "i", csrf: "c")
        let sealed = session.sealed(with: ring)
        #expect(BrowserSession.open(Substring(sealed), with: ring) == session)
        #expect(BrowserSession.open(Substring(sealed), with: ring)?.user == user)
        var other = session
        other.version = 2
        #expect(BrowserSession.open(Substring(other.sealed(with: ring)), with: ring) == nil)
        #expect(SignInState.open(Substring(sealed), with: ring) == nil)
    }
}
