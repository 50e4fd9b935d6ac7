import Testing

@testable import Auth

@Suite("RevocationRecord")
struct RevocationRecordTests {
    static let issuer = "https://idp.example/realms/testing"
    static let revocation = Revocation(
        kind: .subject, issuer: issuer, value: "user 1: é", revokedAt: 1_700_000_000, expiresAt: 1_700_003_600)

    @Test("the key is prefix, kind, the issuer's SHA-256 in hex, and the value")
    func key() {
        let key = RevocationRecord.key(for: Self.revocation)
        // printf %s https://idp.example/realms/testing | sha256sum
        #expect(key == "keycloak-fcgi:revoked:sub:ff3664892d8a97c343643807fe95dcdb9886ee225805589b50587e3faf08ab69:user 1: é")
        #expect(RevocationRecord.claimKey("logout-jti:x").count == "keycloak-fcgi:once:".count + 64)
        #expect(RevocationRecord.claimKey("a") != RevocationRecord.claimKey("b"))
    }

    @Test("a record reads back as the revocation it was written from")
    func roundTrip() throws {
        let record = RevocationRecord.encode(Self.revocation)
        #expect(record.hasPrefix("v1 sub 1700000000 1700003600 "))
        #expect(!record.contains("\n"))
        #expect(try RevocationRecord.decode(Array(record.utf8)).get() == Self.revocation)
        let session = Revocation(kind: .session, issuer: "i", value: "s", revokedAt: 0, expiresAt: 0)
        #expect(try RevocationRecord.decode(Array(RevocationRecord.encode(session).utf8)).get() == session)
    }

    static let issuerField = Base64URL.encode(issuer.utf8)
    static let valueField = Base64URL.encode("sid-1".utf8)

    @Test(
        "anything encode would not write is refused, with its reason",
        arguments: [
            ("", .fieldCount),
            ("v1 sid 1 2 \(issuerField)", .fieldCount),
            ("v1 sid 1 2 \(issuerField) \(valueField) extra", .fieldCount),
            ("v1 sid 1  2 \(issuerField) \(valueField)", .fieldCount),
            ("v1 sid 1 2 \(issuerField) \(valueField)\n", .value),
            ("v2 sid 1 2 \(issuerField) \(valueField)", .version),
            ("v1 SID 1 2 \(issuerField) \(valueField)", .kind),
            ("v1 jti 1 2 \(issuerField) \(valueField)", .kind),
            ("v1 sid -1 2 \(issuerField) \(valueField)", .time),
            ("v1 sid 01 2 \(issuerField) \(valueField)", .time),
            ("v1 sid 1 2x \(issuerField) \(valueField)", .time),
            ("v1 sid 1 1234567890123456 \(issuerField) \(valueField)", .time),
            ("v1 sid 5 4 \(issuerField) \(valueField)", .expiresBeforeRevoked),
            ("v1 sid 1 2 \(issuerField)= \(valueField)", .issuer),
            ("v1 sid 1 2 a+b/ \(valueField)", .issuer),
            ("v1 sid 1 2 \(issuerField) _w", .value),
            ("v1 sid 1 2 \(issuerField) \(Base64URL.encode([0xFF, 0xFE]))", .value),
            ("v1 sid 1 2 \(issuerField) \(Base64URL.encode(Array(repeating: UInt8(ascii: "a"), count: 1025)))", .value),
            ("v1 sid 1 2 \(issuerField) \(String(repeating: "A", count: 4100))", .tooLong),
        ] as [(String, RevocationRecord.Rejection)])
    func rejects(record: String, rejection: RevocationRecord.Rejection) {
        #expect(throws: rejection) { try RevocationRecord.decode(Array(record.utf8)).get() }
    }

    @Test("the write command stores with a TTL of expiresAt - now, at least 1 s, and names the channel")
    func writeCommand() {
        let command = RevocationRecord.writeCommand(Self.revocation, now: 1_700_000_600)
        #expect(command.count == 9)
        #expect(command[0] == "EVAL" && command[2] == "1")
        #expect(command[3] == RevocationRecord.key(for: Self.revocation))
        #expect(command[4] == RevocationRecord.encode(Self.revocation))
        #expect(command[7] == "3000")
        #expect(command[8] == "keycloak-fcgi:revocations")
        #expect(RevocationRecord.writeCommand(Self.revocation, now: 1_800_000_000)[7] == "1")
    }
}
