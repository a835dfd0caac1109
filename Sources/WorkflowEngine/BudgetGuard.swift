import Foundation
import JobFormat
import Logging
import RuntimeSupport
import WorkflowStore

/// Holds one run's model calls to the job's `budget` and `daily_budget`.
///
/// Before a call, its worst case (the input estimated at 4 bytes a token, plus all of
/// `max_tokens`, at the model's price) is reserved against what is left; a call that could pass
/// a cap is refused before it is made. After it, the real usage replaces the reservation and is
/// written durably to the run's and the job's spend records, so a restart forgets nothing.
/// Parallel steps of a run share one guard, so two calls cannot both squeeze under the cap.
public final class BudgetGuard: Sendable {
    public struct Reservation: Sendable {
        let usd: Double
        let tokens: Int
    }

    public enum Check: Sendable {
        case allowed(Reservation)
        /// Why not, in one sentence.
        case refused(String)
    }

    private struct State {
        var run: Spend
        var day: DailySpendRecord
        var reservedUSD: Double = 0
        var reservedTokens = 0
    }

    let job: JobID
    /// nil: calls outside a run (`wfctl eval`): held to the run cap from zero, only the day's written.
    let run: RunID?
    let perRun: Budget?
    let perDay: Budget?
    /// nil: nothing is written (calls for no job: `wfctl draft`).
    private let store: RunStore?
    private let logger: Logger
    private let state: Locked<State>

    /// Loads what the run and the job's day have spent so far.
    public init(job: Job, run: RunID?, store: RunStore, logger: Logger) {
        self.job = job.id
        self.run = run
        perRun = job.budget
        perDay = job.dailyBudget
        self.store = store
        self.logger = logger
        let spent = run.flatMap { try? store.loadRunSpend(job.id, $0) } ?? Spend()
        let days = (try? store.loadDailySpend(job.id)) ?? DailySpendRecord(job: job.id)
        state = Locked(State(run: spent, day: days))
    }

    /// A guard for calls that belong to no job (`wfctl draft`): held to `budget`, nothing written.
    public init(unrecorded budget: Budget?, logger: Logger) {
        guard let job = JobID("wfd-unrecorded") else { preconditionFailure("a valid job id") }
        self.job = job
        run = nil
        perRun = budget
        perDay = nil
        store = nil
        self.logger = logger
        state = Locked(State(run: Spend(), day: DailySpendRecord(job: job)))
    }

    /// What the run has spent so far.
    public var spent: Spend { state.withLock { $0.run } }

    /// Reserves the worst case of a call: `usd` (nil when the model has no price) and `tokens`.
    /// With `override` (a person approved passing the budget) nothing is refused.
    public func reserve(usd: Double?, tokens: Int, at date: Date, override: Bool) -> Check {
        state.withLock { state in
            let today = DailySpendRecord.day(of: date)
            let daySpent = state.day.days[today] ?? Spend()
            if !override {
                if usd == nil, perRun?.usd != nil || perDay?.usd != nil {
                    return .refused(
                        "the model has no price, so its calls cannot be held to the job's usd budget "
                            + "(add it to /etc/wfd/prices.yaml or the job's prices:)")
                }
                let cost = usd ?? 0
                for (name, cap, spent) in [("run", perRun, state.run), ("daily", perDay, daySpent)] {
                    guard let cap else { continue }
                    if let limit = cap.usd, spent.usd + state.reservedUSD + cost > limit {
                        let left = max(0, limit - spent.usd - state.reservedUSD)
                        return .refused(
                            "the next call could cost up to \(Self.dollars(cost)), and \(Self.dollars(left)) of the "
                                + "\(name) budget of \(Self.dollars(limit)) is left")
                    }
                    if let limit = cap.tokens, spent.tokens + state.reservedTokens + tokens > limit {
                        let left = max(0, limit - spent.tokens - state.reservedTokens)
                        return .refused(
                            "the next call could use up to \(tokens) tokens, and \(left) of the \(name) budget "
                                + "of \(limit) tokens are left")
                    }
                }
            }
            state.reservedUSD += usd ?? 0
            state.reservedTokens += tokens
            return .allowed(Reservation(usd: usd ?? 0, tokens: tokens))
        }
    }

    /// Replaces `reservation` with what the call really cost, and writes it down durably.
    public func settle(_ reservation: Reservation, usd: Double?, tokens: Int, at date: Date) async {
        let call = Spend(usd: usd ?? 0, tokens: tokens, calls: 1)
        let (runSpend, day) = state.withLock { state in
            state.reservedUSD -= reservation.usd
            state.reservedTokens -= reservation.tokens
            state.run = state.run + call
            let today = DailySpendRecord.day(of: date)
            state.day.days[today] = (state.day.days[today] ?? Spend()) + call
            return (state.run, state.day)
        }
        guard let store else { return }
        let (job, runID) = (job, run)
        do {
            try await BlockingIO.shared.run { () throws(StoreError) in
                if let runID { try store.saveRunSpend(RunSpendRecord(job: job, run: runID, spend: runSpend)) }
                try store.saveDailySpend(day)
            }
        } catch {
            logger.error("cannot record what a model call cost: \(error)")
        }
    }

    /// Gives back a reservation whose call was not made.
    public func release(_ reservation: Reservation) {
        state.withLock { state in
            state.reservedUSD -= reservation.usd
            state.reservedTokens -= reservation.tokens
        }
    }

    static func dollars(_ amount: Double) -> String { String(format: "$%.4f", amount) }
}
