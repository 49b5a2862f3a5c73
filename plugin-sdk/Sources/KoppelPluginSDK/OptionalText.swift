import Foundation

extension Optional where Wrapped == String {
    /// The string unless it is nil or blank: APIs send "" for "not set".
    public var nonEmpty: String? {
        guard let self, !self.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return self
    }
}
