import Auth

/// Reads form fields from a request body the way FastAPI's `Form(...)` does:
/// `application/x-www-form-urlencoded` or `multipart/form-data` (`MultipartForm`);
/// any other content type, JSON included, yields no fields. The last occurrence of a field wins.
package enum FormFields {
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
    package static func required(_ names: [String], from request: HTTPRequest) throws(HandlerError) -> [String: String] {
        let fields = try decode(request)
        let missing = names.filter { (fields[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            throw .missingFields(missing)
        }
        return fields
    }

    private static func multipart(_ body: [UInt8], boundary: String) throws(HandlerError) -> [String: String] {
        guard let fields = MultipartForm.fields(of: body, boundary: boundary) else {
            throw .malformedBody
        }
        return fields
    }
}
