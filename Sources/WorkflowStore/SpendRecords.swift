import Foundation
import JobFormat
import Schedules

/// What model calls have cost: tokens and US dollars.
public struct Spend: Sendable, Equatable, Codable {
    public var usd: Double
    public var tokens: Int
    public var calls: Int

    public init(usd: Double = 0, tokens: Int = 0, calls: Int = 0) {
        self.usd = usd
        self.tokens = tokens
        self.calls = calls
    }

    public static func + (left: Spend, right: Spend) -> Spend {
        Spend(usd: left.usd + right.usd, tokens: left.tokens + right.tokens, calls: left.calls + right.calls)
    }
}

/// `runs/<job>/<run>/spend.json`: what a run's model calls have cost, written after each call
/// (so a crash in the middle of an attempt loses no spending from the budget).
public struct RunSpendRecord: Sendable, Equatable, Codable {
    public static let currentVersion = 1
    public var version: Int
    public var job: JobID
    public var run: RunID
    public var spend: Spend

    public init(job: JobID, run: RunID, spend: Spend) {
        version = Self.currentVersion
        self.job = job
        self.run = run
        self.spend = spend
    }
}

/// `jobs/<job>/spend.json`: what the job's model calls cost per UTC day (the last 8 days), for
/// `daily_budget`.
public struct DailySpendRecord: Sendable, Equatable, Codable {
    public static let currentVersion = 1
    public var version: Int
    public var job: JobID
    /// By day, `YYYY-MM-DD` in UTC.
    public var days: [String: Spend]

    public init(job: JobID, days: [String: Spend] = [:]) {
        version = Self.currentVersion
        self.job = job
        self.days = days
    }

    /// The UTC day of `date`, as the ledger names it.
    public static func day(of date: Date) -> String { String(Timestamp.rfc3339(date).prefix(10)) }
}

extension StateDirectory {
    public func runSpend(_ job: JobID, _ run: RunID) -> String { "\(runDirectory(job, run))/spend.json" }
    public func dailySpend(_ job: JobID) -> String { "\(jobDirectory(job))/spend.json" }
}

extension RunStore {
    public func saveRunSpend(_ record: RunSpendRecord) throws(StoreError) {
        try RecordFile.write(record, to: directory.runSpend(record.job, record.run))
    }

    /// Nothing spent yet when the file is missing.
    public func loadRunSpend(_ job: JobID, _ run: RunID) throws(StoreError) -> Spend {
        do {
            return try RecordFile.read(RunSpendRecord.self, from: directory.runSpend(job, run)).spend
        } catch .missing {
            return Spend()
        }
    }

    /// Keeps the newest 8 days.
    public func saveDailySpend(_ record: DailySpendRecord) throws(StoreError) {
        var kept = record
        kept.days = Dictionary(
            uniqueKeysWithValues: record.days.sorted { $0.key > $1.key }.prefix(8).map { ($0.key, $0.value) })
        try RecordFile.write(kept, to: directory.dailySpend(record.job))
    }

    public func loadDailySpend(_ job: JobID) throws(StoreError) -> DailySpendRecord {
        do {
            return try RecordFile.read(DailySpendRecord.self, from: directory.dailySpend(job))
        } catch .missing {
            return DailySpendRecord(job: job)
        }
    }
}
