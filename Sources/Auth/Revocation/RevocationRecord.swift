import Crypto

/// How revocations are laid out in Redis (docs/revocation.md): the key names, the channel,
/// and the one-line record that is both a key's value and a published message.
///
/// - Key: `keycloak-fcgi:revoked:<kind>:<hex SHA-256 of the issuer>:<value>`, so a `sid` or
///   `sub` is scoped to its issuer without putting an arbitrary URL in the key. Its TTL is
///   `expiresAt − now` (at least 1 s), so Redis forgets it when the list would.
/// - Value and message: `v1 <kind> <revokedAt> <expiresAt> <issuer> <value>`, the times in
///   decimal unix seconds and the issuer and value in unpadded base64url, so no field can hold
///   a space or a line break. The key alone cannot give the issuer back (it is hashed), which
///   is why the value carries it.
/// - Replay guard: `keycloak-fcgi:once:<hex SHA-256 of the caller's key>`, a fixed length
///   whatever the caller's key (a `jti` is chosen by whoever minted the token).
///
/// Anything read back is parsed strictly: one wrong byte and the record is refused.
enum RevocationRecord {
    static let keyPrefix = "keycloak-fcgi:revoked:"
    static let channel = "keycloak-fcgi:revocations"
    static let claimPrefix = "keycloak-fcgi:once:"
    static let version = "v1"
    /// Longer records are refused unread; a Keycloak `sid` or `sub` is a UUID.
    static let maximumRecordBytes = 4096
    static let maximumFieldBytes = 1024

    /// The key that holds `revocation`.
    static func key(for revocation: Revocation) -> String {
        keyPrefix + revocation.kind.rawValue + ":" + hexSHA256(revocation.issuer) + ":" + revocation.value
    }

    /// The Redis key of a replay-guard claim.
    static func claimKey(_ key: String) -> String {
        claimPrefix + hexSHA256(key)
    }

    /// The record of `revocation` (negative times, which no logout produces, are written as 0).
    static func encode(_ revocation: Revocation) -> String {
        [
            version, revocation.kind.rawValue, String(max(0, revocation.revokedAt)), String(max(0, revocation.expiresAt)),
            Base64URL.encode(revocation.issuer.utf8), Base64URL.encode(revocation.value.utf8),
        ].joined(separator: " ")
    }

    /// Why a record was refused: logged instead of the record itself.
    enum Rejection: String, Error {
        case tooLong = "longer than 4096 bytes"
        case fieldCount = "not six space-separated fields"
        case version = "unknown version"
        case kind = "unknown kind"
        case time = "a time is not a decimal number of seconds"
        case expiresBeforeRevoked = "expires before it was revoked"
        case issuer = "the issuer is not base64url UTF-8 of at most 1024 bytes"
        case value = "the value is not base64url UTF-8 of at most 1024 bytes"
    }

    /// Parses a record, refusing anything that `encode` would not have written.
    static func decode(_ bytes: [UInt8]) -> Result<Revocation, Rejection> {
        guard bytes.count <= maximumRecordBytes else { return .failure(.tooLong) }
        let fields = bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard fields.count == 6 else { return .failure(.fieldCount) }
        guard fields[0].elementsEqual(version.utf8) else { return .failure(.version) }
        let kind: Revocation.Kind
        if fields[1].elementsEqual("sid".utf8) {
            kind = .session
        } else if fields[1].elementsEqual("sub".utf8) {
            kind = .subject
        } else {
            return .failure(.kind)
        }
        guard let revokedAt = seconds(fields[2]), let expiresAt = seconds(fields[3]) else { return .failure(.time) }
        guard expiresAt >= revokedAt else { return .failure(.expiresBeforeRevoked) }
        guard let issuer = text(fields[4]) else { return .failure(.issuer) }
        guard let value = text(fields[5]) else { return .failure(.value) }
        return .success(Revocation(kind: kind, issuer: issuer, value: value, revokedAt: revokedAt, expiresAt: expiresAt))
    }

    /// 1 to 15 decimal digits, no sign, no leading zero (but "0").
    private static func seconds(_ field: ArraySlice<UInt8>) -> Int64? {
        guard (1...15).contains(field.count), field.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        guard field.count == 1 || field.first != UInt8(ascii: "0") else { return nil }
        return field.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }

    /// Canonical base64url of non-empty UTF-8 of at most `maximumFieldBytes`.
    private static func text(_ field: ArraySlice<UInt8>) -> String? {
        guard !field.isEmpty, let bytes = Base64URL.decode(field), bytes.count <= maximumFieldBytes else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Writes a record unless the key already holds one at least as late (a later `revokedAt`,
    /// or the same and a later or equal `expiresAt`), then publishes it either way; one round
    /// trip, atomic in Redis. A plain SET would let the earlier of two racing logouts of the
    /// same subject overwrite the later one, and a replica started afterwards would load the
    /// earlier cut-off. Receivers merge field by field, so publishing an older record changes
    /// nothing there.
    ///
    /// KEYS[1] = the key; ARGV = record, revokedAt, expiresAt, TTL seconds, channel.
    static let writeScript = """
        local old = redis.call('GET', KEYS[1])
        if old then
          local r, e = string.match(old, '^v1 %l+ (%d+) (%d+) ')
          if r then
            r, e = tonumber(r), tonumber(e)
            local nr, ne = tonumber(ARGV[2]), tonumber(ARGV[3])
            if r > nr or (r == nr and e >= ne) then
              redis.call('PUBLISH', ARGV[5], ARGV[1])
              return 0
            end
          end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
        redis.call('PUBLISH', ARGV[5], ARGV[1])
        return 1
        """

    /// The EVAL command that writes and publishes `revocation` at `now`.
    static func writeCommand(_ revocation: Revocation, now: Int64) -> [String] {
        [
            "EVAL", writeScript, "1", key(for: revocation),
            encode(revocation), String(max(0, revocation.revokedAt)), String(max(0, revocation.expiresAt)),
            String(max(1, revocation.expiresAt - now)), channel,
        ]
    }

    private static func hexSHA256(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(text.utf8)) {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
