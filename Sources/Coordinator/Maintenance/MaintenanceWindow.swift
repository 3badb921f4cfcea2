import Foundation

/// One recurring window in which hosts may start maintenance: `{"days": ["sat", "sun"], "start":
/// "01:00", "end": "05:00", "timezone": "Europe/Paris"}` (kured's reboot days, start and end time
/// and time zone).
///
/// - **Local wall time.** Days and times are read on the clocks of `timezone`, so a window stays
///   at 01:00 in Paris across daylight saving changes.
/// - **Across midnight.** An end at or before the start (22:00-02:00) ends the next day; the
///   window belongs to the day it starts on, so `days: ["fri"]` is Friday night to Saturday.
///   "24:00" is allowed as an end, the end of the start day.
/// - **DST.** A window opens at the first instant its zone's clock reads the start time or later
///   on its day, and closes likewise at the end time: a start inside the spring-forward gap opens
///   when the gap ends (the window is shorter that day, never shifted); in the fall-back repeat it
///   opens at the first pass and closes at the first pass of its end (the careful side: the clock
///   reading an earlier time again does not reopen it). A window wholly inside the gap does not
///   happen that day.
public struct MaintenanceWindow: Sendable, Equatable, Codable {
    public enum Weekday: String, Sendable, Codable, CaseIterable, Comparable {
        case mon, tue, wed, thu, fri, sat, sun

        /// The weekday of a day number (days since 1970-01-01, a Thursday).
        init(dayNumber: Int64) {
            self = Weekday.allCases[Int(((dayNumber + 3) % 7 + 7) % 7)]
        }

        public static func < (a: Weekday, b: Weekday) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public let days: Set<Weekday>
    /// Minutes after local midnight: 0..<1440.
    public let startMinute: Int
    /// Minutes after local midnight of the end's day: 0...1440 (1440 is "24:00").
    public let endMinute: Int
    public let timeZone: TimeZone
    /// The zone as the operator named it: shown and stored as given (Foundation answers "GMT" for
    /// "UTC", for one).
    public let timeZoneName: String

    /// The end falls on the next local day.
    public var crossesMidnight: Bool { endMinute <= startMinute }

    public init(days: Set<Weekday>, startMinute: Int, endMinute: Int, timeZone: TimeZone, timeZoneName: String? = nil) {
        self.days = days
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.timeZone = timeZone
        self.timeZoneName = timeZoneName ?? timeZone.identifier
    }

    /// A window from its JSON form; `field` names it in errors (`policy.windows[0]`).
    public init(json value: Any, field: String) throws(MaintenancePolicyError) {
        let fields = try MaintenancePolicy.object(value, field: field, known: ["days", "start", "end", "timezone"])
        for key in ["days", "start", "end", "timezone"] where fields[key] == nil {
            throw MaintenancePolicyError(field: "\(field).\(key)", problem: "is required")
        }
        guard let dayList = fields["days"] as? [Any] else {
            throw MaintenancePolicyError(field: "\(field).days", problem: "must be a list of days (mon, tue, wed, thu, fri, sat, sun)")
        }
        let dayNames = try dayList.enumerated().map { (i, d) throws(MaintenancePolicyError) in try MaintenancePolicy.string(d, field: "\(field).days[\(i)]") }
        try self.init(days: dayNames, start: try MaintenancePolicy.string(fields["start"]!, field: "\(field).start"),
                      end: try MaintenancePolicy.string(fields["end"]!, field: "\(field).end"),
                      timezone: try MaintenancePolicy.string(fields["timezone"]!, field: "\(field).timezone"), field: field)
    }

    /// The one validating initialiser, for the API's JSON and the stored Codable form alike.
    public init(days dayNames: [String], start: String, end: String, timezone: String, field: String) throws(MaintenancePolicyError) {
        guard !dayNames.isEmpty else { throw MaintenancePolicyError(field: "\(field).days", problem: "must name at least one day") }
        var days: Set<Weekday> = []
        for (i, name) in dayNames.enumerated() {
            guard let day = Weekday(rawValue: name.lowercased()) else {
                throw MaintenancePolicyError(field: "\(field).days[\(i)]", problem: "'\(name)' is not one of mon, tue, wed, thu, fri, sat, sun")
            }
            days.insert(day)
        }
        guard let startMinute = Self.minutes(start), startMinute < 1440 else {
            throw MaintenancePolicyError(field: "\(field).start", problem: "'\(start)' is not a time HH:MM from 00:00 to 23:59")
        }
        guard let endMinute = Self.minutes(end) else {
            throw MaintenancePolicyError(field: "\(field).end", problem: "'\(end)' is not a time HH:MM from 00:00 to 24:00")
        }
        guard endMinute != startMinute else {
            throw MaintenancePolicyError(field: "\(field).end", problem: "must differ from start (for all day use 00:00 to 24:00)")
        }
        // Names of the tz database only: Foundation also takes fixed offsets ("GMT+1"), which
        // would not follow a place's DST rules. (Its list of known identifiers is no test: on
        // Linux it lacks current names such as Asia/Kolkata.)
        let fixedOffset = ["GMT+", "GMT-", "UTC+", "UTC-"].contains { timezone.uppercased().hasPrefix($0) }
        guard !fixedOffset, let zone = TimeZone(identifier: timezone) else {
            throw MaintenancePolicyError(field: "\(field).timezone", problem: "'\(timezone)' is not an IANA time zone (like Europe/Paris)")
        }
        self.init(days: days, startMinute: startMinute, endMinute: endMinute, timeZone: zone, timeZoneName: timezone)
    }

    /// "HH:MM" (two digits each) to minutes after midnight, up to 24:00.
    static func minutes(_ s: String) -> Int? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, parts.allSatisfy({ $0.allSatisfy(\.isASCII) }),
              let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 1440 else { return nil }
        return h * 60 + m
    }

    static func clockString(_ minutes: Int) -> String {
        let h = minutes / 60, m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    enum CodingKeys: String, CodingKey { case days, start, end, timezone }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(days: try c.decode([String].self, forKey: .days), start: try c.decode(String.self, forKey: .start),
                          end: try c.decode(String.self, forKey: .end), timezone: try c.decode(String.self, forKey: .timezone),
                          field: decoder.codingPath.map(\.stringValue).joined(separator: "."))
        } catch let error as MaintenancePolicyError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(days.sorted().map(\.rawValue), forKey: .days)
        try c.encode(Self.clockString(startMinute), forKey: .start)
        try c.encode(Self.clockString(endMinute), forKey: .end)
        try c.encode(timeZoneName, forKey: .timezone)
    }
}
