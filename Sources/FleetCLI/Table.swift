/// Plain-text tables for humans: a header row, columns padded to their widest cell, two spaces
/// between columns, numbers aligned right. No colours and no box drawing, so the output pastes
/// into tickets and survives `less` and `grep`. Pure.
public struct Table: Sendable {
    public enum Alignment: Sendable { case left, right }

    public struct Column: Sendable {
        public var title: String
        public var alignment: Alignment
        /// Cells longer than this are cut with "…" (0: never).
        public var maxWidth: Int

        public init(_ title: String, _ alignment: Alignment = .left, maxWidth: Int = 0) {
            self.title = title
            self.alignment = alignment
            self.maxWidth = maxWidth
        }
    }

    public var columns: [Column]
    public var rows: [[String]] = []

    public init(_ columns: [Column]) { self.columns = columns }

    public mutating func add(_ row: [String]) {
        precondition(row.count == columns.count, "a row has one cell per column")
        rows.append(row)
    }

    public func render() -> String {
        let cells = rows.map { row in row.enumerated().map { Self.cut($1, to: columns[$0].maxWidth) } }
        var widths = columns.map { $0.title.count }
        for row in cells { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ row: [String]) -> String {
            var out = ""
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let last = i == row.count - 1
                switch columns[i].alignment {
                case .left: out += last ? cell : cell + pad
                case .right: out += pad + cell
                }
                if !last { out += "  " }
            }
            return out
        }
        return ([line(columns.map(\.title))] + cells.map(line)).joined(separator: "\n")
    }

    static func cut(_ s: String, to width: Int) -> String {
        // One line per row: a newline in a value (an output tail, an error) would break the columns.
        let flat = s.contains(where: \.isNewline) ? s.split(whereSeparator: \.isNewline).joined(separator: " ⏎ ") : s
        guard width > 0, flat.count > width else { return flat }
        return String(flat.prefix(max(width - 1, 0))) + "…"
    }
}

/// `key: value` lines with the keys padded, for `show` commands.
public struct Fields: Sendable {
    public var pairs: [(String, String)] = []

    public init() {}

    public mutating func add(_ key: String, _ value: String?) {
        pairs.append((key, value ?? "-"))
    }

    public func render() -> String {
        let width = pairs.map(\.0.count).max() ?? 0
        return pairs.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 }.joined(separator: "\n")
    }
}
