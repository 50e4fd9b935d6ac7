import Auth
import Dispatch
import Testing

@Suite("RevocationList")
struct RevocationListTests {
    static let issuer = "https://idp.example/realms/testing"
    static let otherIssuer = "https://idp.example/realms/other"

    static func session(_ sid: String, issuer: String = issuer, revokedAt: Int64 = 1_000, expiresAt: Int64 = 2_000) -> Revocation {
        Revocation(kind: .session, issuer: issuer, value: sid, revokedAt: revokedAt, expiresAt: expiresAt)
    }

    static func subject(_ sub: String, issuer: String = issuer, revokedAt: Int64 = 1_000, expiresAt: Int64 = 2_000) -> Revocation {
        Revocation(kind: .subject, issuer: issuer, value: sub, revokedAt: revokedAt, expiresAt: expiresAt)
    }

    @Test("an empty list refuses nothing")
    func empty() {
        let list = RevocationList()
        #expect(list.count == 0)
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: "s1", subject: "u1", issuedAt: 0, now: 1_500))
    }

    @Test("a session revocation refuses that sid whatever the token's iat", arguments: [nil, 0, 999, 1_000, 1_001, 1_999] as [Int64?])
    func sessionAnyIssuedAt(issuedAt: Int64?) {
        let list = RevocationList()
        list.insert(Self.session("s1"))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: "s1", subject: "u1", issuedAt: issuedAt, now: 1_500))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: "s2", subject: "u1", issuedAt: issuedAt, now: 1_500))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: issuedAt, now: 1_500))
    }

    @Test(
        "a subject revocation refuses tokens issued at or before revokedAt, and tokens without iat",
        arguments: [(nil, true), (0, true), (999, true), (1_000, true), (1_001, false), (1_999, false)] as [(Int64?, Bool)])
    func subjectByIssuedAt(issuedAt: Int64?, refused: Bool) {
        let list = RevocationList()
        list.insert(Self.subject("u1"))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: "s9", subject: "u1", issuedAt: issuedAt, now: 1_500) == refused)
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: issuedAt, now: 1_500) == refused)
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u2", issuedAt: issuedAt, now: 1_500))
    }

    @Test("a sid or sub is revoked only under its issuer")
    func otherIssuer() {
        let list = RevocationList()
        list.insert(Self.session("s1"))
        list.insert(Self.subject("u1"))
        #expect(!list.isRevoked(issuer: Self.otherIssuer, sessionID: "s1", subject: "u1", issuedAt: 0, now: 1_500))
        list.insert(Self.session("s1", issuer: Self.otherIssuer))
        #expect(list.count == 3)
        #expect(list.isRevoked(issuer: Self.otherIssuer, sessionID: "s1", subject: nil, issuedAt: 0, now: 1_500))
        #expect(!list.isRevoked(issuer: Self.otherIssuer, sessionID: nil, subject: "u1", issuedAt: 0, now: 1_500))
    }

    @Test("an entry refuses up to and including expiresAt, never after")
    func expiry() {
        let list = RevocationList()
        list.insert(Self.session("s1", expiresAt: 2_000))
        list.insert(Self.subject("u1", expiresAt: 2_000))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: "s1", subject: nil, issuedAt: nil, now: 2_000))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: nil, now: 2_000))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: "s1", subject: nil, issuedAt: nil, now: 2_001))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: nil, now: 2_001))
        // Not yet swept: still counted.
        #expect(list.count == 2)
    }

    @Test("inserting again is idempotent and keeps the later revokedAt and the later expiresAt")
    func idempotentInsert() {
        let list = RevocationList()
        #expect(list.insert(Self.subject("u1", revokedAt: 1_000, expiresAt: 2_000)))
        #expect(!list.insert(Self.subject("u1", revokedAt: 1_000, expiresAt: 2_000)))
        // Earlier on both counts: nothing changes.
        #expect(!list.insert(Self.subject("u1", revokedAt: 900, expiresAt: 1_900)))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: 1_001, now: 1_500))
        // A later revokedAt with an earlier expiresAt: the cut-off moves, the expiry stays.
        #expect(list.insert(Self.subject("u1", revokedAt: 1_100, expiresAt: 1_800)))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: 1_100, now: 1_999))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: 1_101, now: 1_999))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: 1_050, now: 2_000))
        // A later expiresAt alone extends it.
        #expect(list.insert(Self.subject("u1", revokedAt: 1_000, expiresAt: 3_000)))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "u1", issuedAt: 1_100, now: 2_500))
        #expect(list.count == 1)
    }

    @Test("the same value as sid and as sub are two entries; insert(contentsOf:) counts what changed")
    func kindsAreSeparate() {
        let list = RevocationList()
        let changed = list.insert(contentsOf: [Self.session("x"), Self.subject("x"), Self.session("x")])
        #expect(changed == 2)
        #expect(list.count == 2)
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: "x", subject: nil, issuedAt: 5_000, now: 1_500))
        #expect(!list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "x", issuedAt: 5_000, now: 1_500))
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "x", issuedAt: 5, now: 1_500))
    }

    @Test("removeExpired drops exactly the entries whose expiresAt is before now")
    func removeExpired() {
        let list = RevocationList()
        list.insert(contentsOf: [
            Self.session("a", expiresAt: 100), Self.session("b", expiresAt: 200), Self.subject("c", expiresAt: 300),
            Self.session("a", issuer: Self.otherIssuer, expiresAt: 400),
        ])
        #expect(list.count == 4)
        list.removeExpired(now: 100)
        #expect(list.count == 4)
        list.removeExpired(now: 201)
        #expect(list.count == 2)
        #expect(list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "c", issuedAt: nil, now: 250))
        #expect(list.isRevoked(issuer: Self.otherIssuer, sessionID: "a", subject: nil, issuedAt: nil, now: 250))
        // An entry re-inserted after a sweep is swept again later.
        list.insert(Self.session("b", expiresAt: 350))
        list.removeExpired(now: 1_000)
        #expect(list.count == 0)
        #expect(!list.isRevoked(issuer: Self.otherIssuer, sessionID: "a", subject: nil, issuedAt: nil, now: 300))
    }

    @Test("with many entries every one is found, others are not, and a sweep keeps exactly the survivors")
    func manyEntries() {
        let list = RevocationList()
        let count = 30_000
        list.insert(contentsOf: (0..<count).map { Self.session("sid-\($0)", expiresAt: $0 % 2 == 0 ? 1_000 : 3_000) })
        list.insert(contentsOf: (0..<count).map { Self.subject("sub-\($0)", expiresAt: 3_000) })
        #expect(
            (0..<count).allSatisfy { list.isRevoked(issuer: Self.issuer, sessionID: "sid-\($0)", subject: nil, issuedAt: nil, now: 900) })
        #expect((0..<count).allSatisfy { list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "sub-\($0)", issuedAt: 0, now: 900) })
        #expect(
            !(0..<count).contains {
                list.isRevoked(issuer: Self.issuer, sessionID: "sid-x\($0)", subject: "sub-x\($0)", issuedAt: 0, now: 900)
            })
        #expect(
            !(0..<count).contains {
                list.isRevoked(issuer: Self.issuer, sessionID: "sub-\($0)", subject: "sid-\($0)", issuedAt: 0, now: 900)
            })
        list.removeExpired(now: 2_000)
        #expect(list.count == count + count / 2)
        #expect(
            (0..<count).allSatisfy {
                list.isRevoked(issuer: Self.issuer, sessionID: "sid-\($0)", subject: nil, issuedAt: nil, now: 2_000) == ($0 % 2 == 1)
            })
        #expect(
            (0..<count).allSatisfy { list.isRevoked(issuer: Self.issuer, sessionID: nil, subject: "sub-\($0)", issuedAt: 0, now: 2_000) })
    }

    @Test("readers on many threads see a consistent list while a writer inserts and sweeps")
    func concurrentReaders() {
        let list = RevocationList()
        list.insert(Self.session("fixed", expiresAt: .max))
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<2_000 {
                if worker == 0 {
                    list.insert(Self.session("s\(round)", revokedAt: 0, expiresAt: Int64(round)))
                    if round % 100 == 0 { list.removeExpired(now: Int64(round)) }
                } else {
                    #expect(list.isRevoked(issuer: Self.issuer, sessionID: "fixed", subject: nil, issuedAt: nil, now: 10))
                    _ = list.isRevoked(issuer: Self.issuer, sessionID: "s\(round)", subject: nil, issuedAt: nil, now: 10)
                }
            }
        }
        list.removeExpired(now: 10_000)
        #expect(list.count == 1)
    }
}
