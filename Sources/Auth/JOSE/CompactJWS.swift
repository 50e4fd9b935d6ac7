import FoundationEssentials

/// A JWS in compact serialization (RFC 7515 §7.1), split and with its header decoded.
///
/// The payload stays encoded until the signature has been checked, so attacker-controlled
/// JSON is parsed only after it is known to come from the provider.
struct CompactJWS {
    let header: JOSEHeader
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers.
    let signingInput: ArraySlice<UInt8>
    /// The still-encoded payload segment.
    let encodedPayload: ArraySlice<UInt8>
    /// The decoded signature.
    let signature: [UInt8]

    private static let decoder = JSONDecoder()

    /// Splits and decodes `token`; throws `malformedToken` for anything but three non-empty
    /// canonical base64url segments with a JSON object header.
    init(_ token: [UInt8]) throws(AuthError) {
        guard let firstDot = token.firstIndex(of: UInt8(ascii: ".")) else {
            throw AuthError(.malformedToken, "not a compact JWS")
        }
        let rest = token[(firstDot + 1)...]
        guard let secondDot = rest.firstIndex(of: UInt8(ascii: ".")),
            !token[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else {
            throw AuthError(.malformedToken, "not three segments")
        }
        let encodedHeader = token[..<firstDot]
        let encodedPayload = token[(firstDot + 1)..<secondDot]
        let encodedSignature = token[(secondDot + 1)...]
        guard !encodedHeader.isEmpty, !encodedPayload.isEmpty, !encodedSignature.isEmpty else {
            throw AuthError(.malformedToken, "empty segment")
        }
        guard let headerBytes = Base64URL.decode(encodedHeader) else {
            throw AuthError(.malformedToken, "header is not base64url")
        }
        guard let signature = Base64URL.decode(encodedSignature) else {
            throw AuthError(.malformedToken, "signature is not base64url")
        }
        do {
            self.header = try Self.decoder.decode(JOSEHeader.self, from: Data(headerBytes))
        } catch {
            throw AuthError(.malformedToken, "header is not a JOSE JSON object")
        }
        self.signingInput = token[..<secondDot]
        self.encodedPayload = encodedPayload
        self.signature = signature
    }

    /// Decodes the payload as `Claims`; call only after the signature verified.
    func decodePayload<Claims: Decodable>(as type: Claims.Type) throws(AuthError) -> Claims {
        guard let bytes = Base64URL.decode(encodedPayload) else {
            throw AuthError(.malformedToken, "payload is not base64url")
        }
        do {
            return try Self.decoder.decode(Claims.self, from: Data(bytes))
        } catch {
            throw AuthError(.malformedToken, "payload is not a JSON object of claims")
        }
    }
}
