#include "sim/scenario.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/common.h"
#include "spec/diagnostics.h"

namespace ramp::sim {
namespace {

using spec::Mark;
using spec::Node;

constexpr std::string_view kNever = "never";

// A path segment for a user-chosen name (a metric, an image): plain when it reads as one.
std::string NamePath(std::string_view parent, std::string_view name) {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  return plain ? spec::ChildPath(parent, name) : spec::KeyPath(parent, name);
}

class Parser {
 public:
  Parser(std::string file, spec::Diagnostics* diags) : file_(std::move(file)), diags_(diags) {}

  void Error(Mark mark, const std::string& path, std::string message) {
    if (!mark.known()) mark = Mark{1, 1};
    diags_->Error(file_, mark, path, std::move(message));
  }

  // Reports every key of map `n` that is not in `known`, with a "did you mean". False when `n`
  // is not a map (reported too).
  bool CheckMap(const Node& n, const std::string& path, const std::vector<std::string>& known) {
    if (!n.IsMap()) {
      Error(n.mark, path, "expected a map, got " + std::string(n.TypeName()));
      return false;
    }
    for (const spec::MapEntry& e : n.entries) {
      if (std::find(known.begin(), known.end(), e.key) != known.end()) continue;
      std::string message = "unknown field \"" + e.key + "\"";
      const std::string hint = spec::DidYouMean(e.key, known);
      if (!hint.empty()) message += " (did you mean \"" + hint + "\"?)";
      Error(e.key_mark, spec::ChildPath(path, e.key), message);
    }
    return true;
  }

  std::optional<std::string> String(const Node& n, const std::string& path) {
    if (!n.IsScalar() || (n.scalar.empty() && !n.quoted)) {
      Error(n.mark, path, "expected a string, got " + std::string(n.TypeName()));
      return std::nullopt;
    }
    return n.scalar;
  }

  // A non-negative Go duration; with `allow_never`, `never` gives nullopt in *out.
  bool ReadDuration(const Node& n, const std::string& path, bool allow_never,
                    std::optional<ramp::Duration>* out) {
    if (!n.IsScalar()) {
      Error(n.mark, path,
            "expected a duration such as 30s, 5m or 1h30m, got " + std::string(n.TypeName()));
      return false;
    }
    if (allow_never && n.scalar == kNever) {
      out->reset();
      return true;
    }
    std::optional<int64_t> nanos = spec::ParseGoDuration(n.scalar);
    if (!nanos) {
      Error(n.mark, path,
            "invalid duration \"" + n.scalar + "\" (a Go duration such as 30s, 5m or 1h30m" +
                (allow_never ? ", or never)" : ")"));
      return false;
    }
    if (*nanos < 0) {
      Error(n.mark, path, "duration \"" + n.scalar + "\" must not be negative");
      return false;
    }
    *out = ramp::Duration(*nanos);
    return true;
  }

  // A required non-negative duration.
  std::optional<ramp::Duration> ReadTime(const Node& n, const std::string& path) {
    std::optional<ramp::Duration> d;
    if (!ReadDuration(n, path, /*allow_never=*/false, &d)) return std::nullopt;
    return d;
  }

  void ParseUpdate(const Node& n, Scenario* s) {
    if (!CheckMap(n, "update", {"image"})) return;
    const Node* image = n.Find("image");
    if (image == nullptr) {
      Error(n.mark, "update.image", "required field is missing (the new image of containers[0])");
      return;
    }
    if (std::optional<std::string> v = String(*image, "update.image")) s->update_image = *v;
  }

  void ParseReadyAfter(const Node& n, Scenario* s) {
    if (n.IsScalar()) {
      ReadDuration(n, "readyAfter", /*allow_never=*/true, &s->ready_after.fallback);
      return;
    }
    if (!n.IsMap()) {
      Error(n.mark, "readyAfter",
            "expected a duration, never, or a map of image to duration, got " +
                std::string(n.TypeName()));
      return;
    }
    for (const spec::MapEntry& e : n.entries) {
      if (e.key == "default") {
        ReadDuration(e.value, "readyAfter.default", /*allow_never=*/true, &s->ready_after.fallback);
        continue;
      }
      ReadyDelay d;
      if (ReadDuration(e.value, NamePath("readyAfter", e.key), /*allow_never=*/true, &d)) {
        s->ready_after.by_image[e.key] = d;
      }
    }
  }

  void ParseMetrics(const Node& n, Scenario* s) {
    if (!n.IsMap()) {
      Error(n.mark, "metrics",
            "expected a map of metric name to a list of entries, got " + std::string(n.TypeName()));
      return;
    }
    for (const spec::MapEntry& e : n.entries) {
      const std::string path = NamePath("metrics", e.key);
      if (!e.value.IsSequence()) {
        Error(e.value.mark, path,
              "expected a list of {at, value|error|phase}, got " + std::string(e.value.TypeName()));
        continue;
      }
      std::vector<MetricEntry> entries;
      for (size_t i = 0; i < e.value.items.size(); ++i) {
        if (std::optional<MetricEntry> m =
                ParseMetricEntry(e.value.items[i], spec::IndexPath(path, i))) {
          entries.push_back(std::move(*m));
        }
      }
      std::stable_sort(entries.begin(), entries.end(),
                       [](const MetricEntry& a, const MetricEntry& b) { return a.at < b.at; });
      s->metrics[e.key] = std::move(entries);
    }
  }

  std::optional<MetricEntry> ParseMetricEntry(const Node& n, const std::string& path) {
    if (!CheckMap(n, path, {"at", "value", "error", "phase"})) return std::nullopt;
    MetricEntry m;
    m.mark = n.mark;
    bool ok = true;
    if (const Node* at = n.Find("at")) {
      std::optional<ramp::Duration> d = ReadTime(*at, spec::ChildPath(path, "at"));
      ok = ok && d.has_value();
      if (d) m.at = *d;
    } else {
      Error(n.mark, spec::ChildPath(path, "at"), "required field is missing");
      ok = false;
    }
    int outcomes = 0;
    for (const spec::MapEntry& e : n.entries) {
      const std::string p = spec::ChildPath(path, e.key);
      if (e.key == "value") {
        ++outcomes;
        m.kind = MetricEntry::Kind::kValue;
        m.value = std::make_shared<const nlohmann::json>(spec::ToJson(e.value));
      } else if (e.key == "error") {
        ++outcomes;
        m.kind = MetricEntry::Kind::kError;
        std::optional<std::string> v = String(e.value, p);
        ok = ok && v.has_value();
        if (v) m.error = *v;
      } else if (e.key == "phase") {
        ++outcomes;
        m.kind = MetricEntry::Kind::kPhase;
        static const std::vector<std::string> phases = {"Successful", "Failed", "Inconclusive",
                                                        "Error"};
        std::optional<std::string> v = String(e.value, p);
        if (!v) {
          ok = false;
        } else if (std::find(phases.begin(), phases.end(), *v) == phases.end()) {
          std::string message =
              "unknown phase \"" + *v + "\" (one of Successful, Failed, Inconclusive, Error)";
          const std::string hint = spec::DidYouMean(*v, phases);
          if (!hint.empty()) message += "; did you mean \"" + hint + "\"?";
          Error(e.value.mark, p, message);
          ok = false;
        } else {
          m.phase = *ParseAnalysisPhase(*v);
        }
      }
    }
    if (outcomes != 1) {
      Error(n.mark, path,
            outcomes == 0 ? "an entry needs one of value, error or phase"
                          : "an entry takes only one of value, error or phase");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return m;
  }

  void ParseActions(const Node& n, Scenario* s) {
    if (!n.IsSequence()) {
      Error(n.mark, "actions", "expected a list of {at, do, …}, got " + std::string(n.TypeName()));
      return;
    }
    for (size_t i = 0; i < n.items.size(); ++i) {
      if (std::optional<Action> a = ParseAction(n.items[i], spec::IndexPath("actions", i))) {
        s->actions.push_back(std::move(*a));
      }
    }
  }

  std::optional<Action> ParseAction(const Node& n, const std::string& path) {
    if (!CheckMap(n, path, {"at", "do", "toRevision", "image"})) return std::nullopt;
    Action a;
    a.mark = n.mark;
    bool ok = true;
    if (const Node* at = n.Find("at")) {
      std::optional<ramp::Duration> d = ReadTime(*at, spec::ChildPath(path, "at"));
      ok = ok && d.has_value();
      if (d) a.at = *d;
    } else {
      Error(n.mark, spec::ChildPath(path, "at"), "required field is missing");
      ok = false;
    }
    const Node* verb = n.Find("do");
    if (verb == nullptr) {
      Error(n.mark, spec::ChildPath(path, "do"), "required field is missing");
      return std::nullopt;
    }
    std::optional<std::string> name = String(*verb, spec::ChildPath(path, "do"));
    if (!name) return std::nullopt;
    const auto& names = engine::UserActionKindNames();
    auto it = std::find(names.begin(), names.end(), *name);
    if (it == names.end()) {
      std::string message = "unknown action \"" + *name + "\"";
      const std::string hint = spec::DidYouMean(*name, names);
      if (!hint.empty()) message += " (did you mean \"" + hint + "\"?)";
      message +=
          "; one of promote, promote-full, abort, retry, pause, resume, restart, undo, "
          "set-image";
      Error(verb->mark, spec::ChildPath(path, "do"), message);
      return std::nullopt;
    }
    a.kind = static_cast<ActionKind>(it - names.begin());
    if (const Node* rev = n.Find("toRevision")) {
      const std::string p = spec::ChildPath(path, "toRevision");
      int64_t v = 0;
      if (a.kind != ActionKind::kUndo) {
        Error(rev->mark, p, "toRevision is only for undo");
        ok = false;
      } else if (!rev->IsScalar() || rev->quoted || !spec::ParseYamlInt(rev->scalar, &v) || v < 0) {
        Error(rev->mark, p,
              "expected a revision number (a non-negative integer; 0: the previous revision)");
        ok = false;
      } else {
        a.to_revision = v;
      }
    }
    const Node* image = n.Find("image");
    if (a.kind == ActionKind::kSetImage) {
      if (image == nullptr) {
        Error(n.mark, spec::ChildPath(path, "image"), "required field is missing for set-image");
        ok = false;
      } else if (std::optional<std::string> v = String(*image, spec::ChildPath(path, "image"))) {
        a.image = *v;
      } else {
        ok = false;
      }
    } else if (image != nullptr) {
      Error(image->mark, spec::ChildPath(path, "image"), "image is only for set-image");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return a;
  }

 private:
  std::string file_;
  spec::Diagnostics* diags_;
};

}  // namespace

ReadyDelay ReadyAfter::For(std::string_view image) const {
  auto it = by_image.find(std::string(image));
  return it != by_image.end() ? it->second : fallback;
}

const MetricEntry* Scenario::MetricAt(std::string_view metric, Duration t) const {
  auto it = metrics.find(std::string(metric));
  if (it == metrics.end()) return nullptr;
  const MetricEntry* found = nullptr;
  for (const MetricEntry& e : it->second) {
    if (e.at <= t) found = &e;
  }
  return found;
}

StatusOr<Scenario> ParseScenario(std::string_view text, std::string_view file) {
  StatusOr<std::vector<spec::Document>> docs = spec::ParseDocuments(text, file);
  if (!docs) return Fail(InvalidArgumentError(docs.error().message()));
  spec::Diagnostics diags;
  Parser p(std::string(file), &diags);
  Scenario s;
  std::vector<const spec::Document*> present;
  for (const spec::Document& d : *docs) {
    if (!d.root.IsNull()) present.push_back(&d);
  }
  if (present.size() > 1) {
    p.Error(present[1]->start, "", "a scenario file holds one YAML document");
  }
  static const Node kEmpty;
  const Node& root = present.empty() ? kEmpty : present[0]->root;
  if (!root.IsNull() && !root.IsMap()) {
    p.Error(root.mark, "", "a scenario is a map (update, readyAfter, until, metrics, actions)");
  } else {
    if (root.IsMap()) p.CheckMap(root, "", {"update", "readyAfter", "until", "metrics", "actions"});
    if (const Node* update = root.Find("update")) {
      p.ParseUpdate(*update, &s);
    } else {
      p.Error(root.mark, "update",
              "required field is missing (the new image of containers[0]: update: {image: IMAGE})");
    }
    if (const Node* ready = root.Find("readyAfter")) p.ParseReadyAfter(*ready, &s);
    if (const Node* until = root.Find("until")) {
      if (std::optional<Duration> d = p.ReadTime(*until, "until")) s.until = *d;
    }
    if (const Node* metrics = root.Find("metrics"); metrics != nullptr && !metrics->IsNull()) {
      p.ParseMetrics(*metrics, &s);
    }
    if (const Node* actions = root.Find("actions"); actions != nullptr && !actions->IsNull()) {
      p.ParseActions(*actions, &s);
    }
  }
  if (diags.HasErrors()) {
    diags.SortByPosition();
    std::string message;
    for (const spec::Diagnostic& d : diags.items()) {
      if (!message.empty()) message += "\n";
      message += d.ToString();
    }
    return Fail(InvalidArgumentError(std::move(message)));
  }
  std::stable_sort(s.actions.begin(), s.actions.end(),
                   [](const Action& a, const Action& b) { return a.at < b.at; });
  std::erase_if(s.actions, [&](const Action& a) { return a.at > s.until; });
  return s;
}

}  // namespace ramp::sim
