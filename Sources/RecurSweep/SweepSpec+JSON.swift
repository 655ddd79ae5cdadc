import Foundation
import RecurForecast

extension Domain {
    /// The sweep-file form: a value, `{"choice": […]}`, `{"int": [lo, hi]}`, `{"float": [lo, hi], "log": true}`…
    var jsonObject: Any {
        func plain(_ v: ParameterValue) -> Any {
            switch v {
            case .int(let i): return i
            case .double(let d): return d
            case .bool(let b): return b
            case .string(let s): return s
            case .list(let l): return l.map(plain)
            }
        }
        switch self {
        case .fixed(let v): return plain(v)
        case .choice(let list): return ["choice": list.map(plain)]
        case .int(let low, let high, let log): return ["int": [low, high], "log": log] as [String: Any]
        case .float(let low, let high, let log, let grid):
            var o: [String: Any] = ["float": [low, high], "log": log]
            if let grid { o["grid"] = grid }
            return o
        case .perLayer(let inner): return ["per_layer": inner.jsonObject]
        }
    }
}

extension SweepSpec {
    /// The parsed definition as JSON (stored beside the YAML, served by the API).
    public func jsonString() -> String {
        var space: [String: Any] = [:]
        for p in self.space { space[p.name] = p.domain.jsonObject }
        var training: [String: Any] = [
            "epochs": self.training.epochs, "batch_size": self.training.batchSize, "optimizer": self.training.optimizer.rawValue,
            "learning_rate": Double(self.training.learningRate), "loss": self.training.loss,
        ]
        if let c = self.training.clipnorm { training["clipnorm"] = Double(c) }
        if let e = self.training.earlyStopping {
            training["early_stopping"] =
                ["monitor": e.monitor.rawValue, "patience": e.patience, "min_delta": e.minDelta, "restore_best": e.restoreBest] as [String: Any]
        }
        let taskObject = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(task))) ?? [:]
        var object: [String: Any] = [
            "name": name, "description": description, "task": taskObject,
            "objective": ["metric": objective.metric.rawValue, "direction": objective.minimize ? "minimize" : "maximize"],
            "search": [
                "method": search.method.rawValue, "seed": search.seed, "max_trials": search.maxTrials, "max_parallel": search.maxParallel,
                "n_startup": search.startupTrials, "candidates": search.candidates,
            ] as [String: Any],
            "space": space, "parameter_order": self.space.map(\.name), "training": training,
            "pruning": [
                "method": pruning.method.rawValue, "warmup": pruning.warmup, "min_trials": pruning.minTrials, "min_epochs": pruning.minEpochs,
                "reduction_factor": pruning.reductionFactor,
            ] as [String: Any],
            "retries": ["max_attempts": maxAttempts],
        ]
        if let w = search.warmStartSweep, var s = object["search"] as? [String: Any] {
            s["warm_start"] = ["sweep": w]
            object["search"] = s
        }
        let r = search.stopRules
        if !r.isEmpty, var s = object["search"] as? [String: Any] {
            var budget: [String: Any] = [:]
            if let m = r.wallMinutes { budget["wall_minutes"] = m }
            if let h = r.workerHours { budget["worker_hours"] = h }
            var stop: [String: Any] = [:]
            if let t = r.target { stop["target"] = t }
            if let n = r.noImprovementTrials { stop["no_improvement_trials"] = n }
            if !budget.isEmpty { s["budget"] = budget }
            if !stop.isEmpty { s["stop"] = stop }
            s["on_stop"] = r.onStop.rawValue
            object["search"] = s
        }
        if let notify { object["notify"] = ["webhook": notify.webhook, "on": notify.on.map(\.rawValue).sorted()] as [String: Any] }
        if evaluation != Evaluation() {
            var e: [String: Any] = [
                "folds": ["method": evaluation.foldMethod.rawValue, "count": evaluation.foldCount] as [String: Any], "seeds": evaluation.seeds,
                "refit": evaluation.refits,
            ]
            if let c = evaluation.confirm { e["confirm"] = ["top_k": c.topK, "seeds": c.seeds] }
            object["evaluation"] = e
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
