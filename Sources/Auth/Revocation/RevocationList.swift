import Platform
import Synchronization

/// The revocations this process knows, consulted on every request.
///
/// The check is on the hot path (a cached verification costs about a microsecond), so:
/// - with an empty list, `isRevoked` reads one atomic counter and takes no lock;
/// - otherwise a lock-free filter (`RevocationFilter`) answers "certainly not revoked" for
///   nearly every token, reading only: no lock, no shared write, nothing allocated;
/// - only a filter hit takes the read lock and does at most two dictionary lookups keyed by the
///   `sid` and the `sub` the token already carries, comparing the issuer afterwards: no key is
///   built.
///
/// Writers (a logout, a message from Redis, the periodic expiry) take the write lock.
public final class RevocationList: Sendable {
    /// One revocation of a `sid` or `sub`, under its issuer. A value has one entry per issuer.
    struct Entry {
        let issuer: String
        var revokedAt: Int64
        var expiresAt: Int64
    }

    struct Storage {
        var sessions: [String: [Entry]] = [:]
        var subjects: [String: [Entry]] = [:]
        var count = 0
        /// The earliest `expiresAt` of any entry, so the periodic sweep takes the write lock
        /// only when something is due.
        var earliestExpiry = Int64.max

        /// Adds or merges one revocation; whether anything changed.
        mutating func insert(_ revocation: Revocation) -> Bool {
            let changed: Bool
            switch revocation.kind {
            case .session: changed = Self.merge(revocation, into: &sessions, count: &count)
            case .subject: changed = Self.merge(revocation, into: &subjects, count: &count)
            }
            if changed { earliestExpiry = min(earliestExpiry, revocation.expiresAt) }
            return changed
        }

        private static func merge(_ revocation: Revocation, into table: inout [String: [Entry]], count: inout Int) -> Bool {
            var entries = table.removeValue(forKey: revocation.value) ?? []
            defer { table[revocation.value] = entries }
            guard let index = entries.firstIndex(where: { $0.issuer == revocation.issuer }) else {
                entries.append(Entry(issuer: revocation.issuer, revokedAt: revocation.revokedAt, expiresAt: revocation.expiresAt))
                count += 1
                return true
            }
            let old = entries[index]
            entries[index].revokedAt = max(old.revokedAt, revocation.revokedAt)
            entries[index].expiresAt = max(old.expiresAt, revocation.expiresAt)
            return entries[index].revokedAt != old.revokedAt || entries[index].expiresAt != old.expiresAt
        }

        mutating func removeExpired(now: Int64) {
            var earliest = Int64.max
            func sweep(_ table: inout [String: [Entry]]) -> Int {
                var removed = 0
                for value in Array(table.keys) {
                    guard var entries = table[value] else { continue }
                    let before = entries.count
                    entries.removeAll { $0.expiresAt < now }
                    removed += before - entries.count
                    for entry in entries { earliest = min(earliest, entry.expiresAt) }
                    table[value] = entries.isEmpty ? nil : entries
                }
                return removed
            }
            count -= sweep(&sessions) + sweep(&subjects)
            earliestExpiry = earliest
        }
    }

    private let storage = ReadWriteLock(Storage())
    private let filter = RevocationFilter()
    /// `storage.count`, readable without the lock: zero means nothing can be refused.
    private let entries = Atomic<Int>(0)

    /// An empty list.
    public init() {}

    /// Whether a token (or session) of `issuer` with these claims is revoked at `now`.
    ///
    /// A session revocation refuses every token with that `sid`, whatever its `iat`: the
    /// session is over. A subject revocation refuses tokens of that `sub` issued at or before
    /// `revokedAt`, and tokens without `iat` (their age is unknown, so they count as older);
    /// the user's later logins are not affected. Entries past `expiresAt` refuse nothing.
    /// Back-Channel Logout 1.0 §2.4 (logout token claims) and §2.7 (what the RP ends).
    public func isRevoked(issuer: String, sessionID: String?, subject: String?, issuedAt: Int64?, now: Int64) -> Bool {
        guard entries.load(ordering: .acquiring) > 0 else { return false }
        let sessionID = sessionID.flatMap { filter.mightContain($0, kind: .session) ? $0 : nil }
        let subject = subject.flatMap { filter.mightContain($0, kind: .subject) ? $0 : nil }
        guard sessionID != nil || subject != nil else { return false }
        return storage.withReadLock { storage in
            if let sessionID, let revoked = storage.sessions[sessionID] {
                for entry in revoked where entry.issuer == issuer && entry.expiresAt >= now {
                    return true
                }
            }
            if let subject, let revoked = storage.subjects[subject] {
                let issuedAt = issuedAt ?? .min
                for entry in revoked where entry.issuer == issuer && entry.expiresAt >= now && issuedAt <= entry.revokedAt {
                    return true
                }
            }
            return false
        }
    }

    /// Adds `revocation`. Idempotent: for an entry already present (same kind, issuer and
    /// value) it keeps the later `revokedAt` and the later `expiresAt`. Whether it changed
    /// anything.
    @discardableResult
    public func insert(_ revocation: Revocation) -> Bool {
        let changed = storage.withWriteLock { storage in
            let changed = storage.insert(revocation)
            filter.add(revocation.value, kind: revocation.kind)
            entries.store(storage.count, ordering: .releasing)
            return changed
        }
        if changed { RevocationMetrics.listSize(count) }
        return changed
    }

    /// Adds each of `revocations` under one lock; how many changed the list.
    @discardableResult
    public func insert(contentsOf revocations: [Revocation]) -> Int {
        guard !revocations.isEmpty else { return 0 }
        let changed = storage.withWriteLock { storage in
            var changed = 0
            for revocation in revocations where storage.insert(revocation) {
                filter.add(revocation.value, kind: revocation.kind)
                changed += 1
            }
            entries.store(storage.count, ordering: .releasing)
            return changed
        }
        if changed > 0 { RevocationMetrics.listSize(count) }
        return changed
    }

    /// Drops the entries whose `expiresAt` is before `now`. Cheap when nothing is due: it
    /// checks the earliest expiry under the read lock first.
    public func removeExpired(now: Int64) {
        guard entries.load(ordering: .acquiring) > 0 else { return }
        guard storage.withReadLock({ $0.earliestExpiry < now }) else { return }
        storage.withWriteLock { storage in
            storage.removeExpired(now: now)
            filter.rebuild(
                storage.sessions.keys.map { ($0, Revocation.Kind.session) } + storage.subjects.keys.map { ($0, Revocation.Kind.subject) })
            entries.store(storage.count, ordering: .releasing)
        }
        RevocationMetrics.listSize(count)
    }

    /// The number of entries, expired ones included until `removeExpired` drops them.
    public var count: Int {
        entries.load(ordering: .acquiring)
    }
}
