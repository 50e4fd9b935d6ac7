import Auth
import Crypto
import CryptoExtras
import Foundation

/// Mints JWS compact tokens in the test, the way Keycloak would, so every claim and header
/// can be bent for a negative case.
public enum TokenMinter {
    /// Who signs, and with which JWS algorithm.
    public enum Signer {
        case rs256(_RSA.Signing.PrivateKey), rs384(_RSA.Signing.PrivateKey), rs512(_RSA.Signing.PrivateKey)
        case ps256(_RSA.Signing.PrivateKey), ps384(_RSA.Signing.PrivateKey), ps512(_RSA.Signing.PrivateKey)
        case es256(P256.Signing.PrivateKey), es384(P384.Signing.PrivateKey)

        var alg: String {
            switch self {
            case .rs256: "RS256"
            case .rs384: "RS384"
            case .rs512: "RS512"
            case .ps256: "PS256"
            case .ps384: "PS384"
            case .ps512: "PS512"
            case .es256: "ES256"
            case .es384: "ES384"
            }
        }

        public func sign(_ input: [UInt8]) -> [UInt8] {
            do {
                switch self {
                case .rs256(let key):
                    return Array(try key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
                case .rs384(let key):
                    return Array(try key.signature(for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
                case .rs512(let key):
                    return Array(try key.signature(for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
                case .ps256(let key): return Array(try key.signature(for: SHA256.hash(data: input), padding: .PSS).rawRepresentation)
                case .ps384(let key): return Array(try key.signature(for: SHA384.hash(data: input), padding: .PSS).rawRepresentation)
                case .ps512(let key): return Array(try key.signature(for: SHA512.hash(data: input), padding: .PSS).rawRepresentation)
                case .es256(let key): return Array(try key.signature(for: input).rawRepresentation)
                case .es384(let key): return Array(try key.signature(for: input).rawRepresentation)
                }
            } catch {
                fatalError("signing failed: \(error)")
            }
        }
    }

    /// A signed token. `header` defaults to `{"alg":<signer>,"typ":"JWT","kid":kid}`.
    public static func token(
        claims: [String: Any], kid: String? = "rsa-current", signer: Signer = .rs256(SigningKeys.rsaCurrent), header: [String: Any]? = nil
    ) -> String {
        var protected: [String: Any] = header ?? ["alg": signer.alg, "typ": "JWT"]
        if header == nil, let kid { protected["kid"] = kid }
        return token(rawHeader: JSON.bytes(protected), rawPayload: JSON.bytes(claims), signer: signer)
    }

    /// A signed token over arbitrary header and payload bytes.
    public static func token(rawHeader: [UInt8], rawPayload: [UInt8], signer: Signer) -> String {
        signed(encodedHeader: Base64URL.encode(rawHeader), encodedPayload: Base64URL.encode(rawPayload), signer: signer)
    }

    /// Signs `<encodedHeader>.<encodedPayload>` as given, even when they are not base64url.
    public static func signed(encodedHeader: String, encodedPayload: String, signer: Signer) -> String {
        let input = encodedHeader + "." + encodedPayload
        return input + "." + Base64URL.encode(signer.sign(Array(input.utf8)))
    }

    /// An unsigned token with an arbitrary header and a placeholder signature.
    public static func unsigned(header: [String: Any], claims: [String: Any]) -> String {
        Base64URL.encode(JSON.bytes(header)) + "." + Base64URL.encode(JSON.bytes(claims)) + "." + Base64URL.encode([0, 1, 2, 3])
    }

    /// The token with one byte of its signature flipped.
    public static func flippingSignatureByte(of token: String) -> String {
        var parts = token.split(separator: ".").map(String.init)
        var signature = Base64URL.decode(parts[2]) ?? []
        signature[signature.count / 2] ^= 0x01
        parts[2] = Base64URL.encode(signature)
        return parts.joined(separator: ".")
    }
}
