import Auth
import MultipartKit

/// Reads form fields from a request body the way FastAPI's `Form(...)` does:
/// `application/x-www-form-urlencoded` or `multipart/form-data` (via vapor's MultipartKit);
/// any other content type, JSON included, yields no fields. The last occurrence of a field wins.
enum FormFields {
    /// The fields of the body, or `malformedBody` for a multipart body that does not parse.
    static func decode(_ request: HTTPRequest) throws(HandlerError) -> [String: String] {
        switch request.mediaType {
        case "application/x-www-form-urlencoded":
            return Dictionary(FormURLEncoding.decode(request.body), uniquingKeysWith: { _, last in last })
        case "multipart/form-data":
            guard let boundary = request.contentTypeParameter("boundary"), !boundary.isEmpty else {
                throw .malformedBody
            }
            return try multipart(request.body, boundary: boundary)
        default:
            return [:]
        }
    }

    /// The named fields of the body, all of them present and non-empty (FastAPI treats an
    /// empty form value as missing), or `missingFields` naming every one that is not.
    static func required(_ names: [String], from request: HTTPRequest) throws(HandlerError) -> [String: String] {
        let fields = try decode(request)
        let missing = names.filter { (fields[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            throw .missingFields(missing)
        }
        return fields
    }

    private struct Parts: Decodable {
        let fields: [String: String]

        struct Key: CodingKey {
            let stringValue: String
            let intValue: Int? = nil
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            var fields: [String: String] = [:]
            for key in container.allKeys {
                // A part that is not text (a nested or repeated field) is skipped, not fatal.
                if let value = try? container.decode(String.self, forKey: key) {
                    fields[key.stringValue] = value
                }
            }
            self.fields = fields
        }
    }

    private static func multipart(_ body: [UInt8], boundary: String) throws(HandlerError) -> [String: String] {
        do {
            return try FormDataDecoder().decode(Parts.self, from: body, boundary: boundary).fields
        } catch {
            throw .malformedBody
        }
    }
}
