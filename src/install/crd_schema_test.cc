// crd_schema.h against the decoders it models, in both directions:
//   * corpus → schema: every Argo document of examples/ and the conformance corpus that decodes
//     without errors is walked beside its CRD's schema; every field (in particular every path the
//     decoder recorded in its SourceMap) must be allowed there, with the type the API server will
//     check, so nothing ramp reads is pruned or refused by the API server;
//   * schema → decoder: a document holding every field of the schema (one of each, typed values)
//     decodes with no unknown field and no type error, and the decoder records each of its
//     fields — so the schema declares nothing ramp's decoders do not read;
//   * required: removing a field the schema requires makes the decoder report that field;
//   * structural rules of apiextensions.k8s.io/v1, the CRDs' names and subresources, and the
//     YAML the CRDs are written as.
#include "install/crd_schema.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "install/yaml_emit.h"
#include "spec/analysis.h"
#include "spec/decode.h"
#include "spec/diagnostics.h"
#include "spec/rollout.h"
#include "spec/yaml_tree.h"

namespace ramp::install {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

const std::map<std::string, CrdModel>& ModelsByKind() {
  static const auto* models = [] {
    auto* m = new std::map<std::string, CrdModel>();
    for (CrdModel& model : ArgoCrdModels()) m->emplace(model.kind, std::move(model));
    return m;
  }();
  return *models;
}

// The schema as plain JSON (the ordered form only matters for the YAML).
json Schema(const std::string& kind) { return json::parse(ModelsByKind().at(kind).schema.dump()); }

// Decodes one document of an Argo kind.
void Decode(const std::string& kind, spec::DecodeContext* ctx, const spec::Node& root) {
  if (kind == "Rollout") {
    spec::DecodeRollout(ctx, root);
  } else if (kind == "AnalysisTemplate") {
    spec::DecodeAnalysisTemplate(ctx, root);
  } else if (kind == "ClusterAnalysisTemplate") {
    spec::DecodeClusterAnalysisTemplate(ctx, root);
  } else if (kind == "AnalysisRun") {
    spec::DecodeAnalysisRun(ctx, root);
  } else if (kind == "Experiment") {
    spec::DecodeExperiment(ctx, root);
  } else {
    ADD_FAILURE() << "no decoder for " << kind;
  }
}

bool Preserves(const json& s) {
  return s.is_object() && s.value("x-kubernetes-preserve-unknown-fields", false);
}
bool IntOrString(const json& s) {
  return s.is_object() && s.value("x-kubernetes-int-or-string", false);
}

// The node at `keys` under `j`, or null.
json At(const json& j, std::initializer_list<const char*> keys) {
  const json* at = &j;
  for (const char* k : keys) {
    if (!at->is_object() || !at->contains(k)) return json();
    at = &(*at)[k];
  }
  return *at;
}

// A field the decoder recorded: its path maps to exactly this key's position (an unrecorded
// path maps to the closest recorded ancestor's, which is elsewhere).
bool Recorded(const spec::SourceMap& sources, const std::string& path, spec::Mark key) {
  spec::Mark m = sources.Lookup(path);
  return key.known() && m.line == key.line && m.column == key.column;
}

// ---- corpus → schema ---------------------------------------------------------------------------

struct CorpusWalk {
  const spec::SourceMap* sources = nullptr;
  std::string where;  // file and kind, for messages
  std::vector<std::string>* problems = nullptr;
  size_t* recorded = nullptr;
  size_t* fields = nullptr;

  void Problem(const std::string& path, const std::string& what) const {
    problems->push_back(where + ": " + path + ": " + what);
  }

  // Whether the API server's type check accepts the scalar as this schema's type (the YAML is
  // turned into JSON by the YAML 1.2 core schema, as kubectl does).
  void CheckScalar(const spec::Node& n, const json& s, const std::string& path) const {
    const std::string_view got = n.TypeName();
    const std::string type = s.value("type", "");
    bool ok = false;
    if (IntOrString(s)) {
      ok = got == "int" || got == "string";
    } else if (type == "string") {
      ok = got == "string";
    } else if (type == "integer") {
      ok = got == "int";
    } else if (type == "number") {
      ok = got == "int" || got == "float";
    } else if (type == "boolean") {
      ok = got == "bool";
    }
    if (!ok) {
      Problem(path, "a " + std::string(got) + " where the schema has " +
                        (IntOrString(s) ? std::string("int-or-string") : type));
    }
  }

  void Walk(const spec::Node& n, const json& s, const std::string& path) const {
    if (Preserves(s)) return;  // kept as written: anything goes
    if (n.IsNull()) return;    // the decoders read an explicit null as an absent field
    const std::string type = s.value("type", "");
    if (n.IsMap()) {
      if (type != "object") return Problem(path, "a map where the schema has " + type);
      const json& props = s.value("properties", json::object());
      for (const spec::MapEntry& e : n.entries) {
        const std::string kp = spec::ChildPath(path, e.key);
        ++*fields;
        if (Recorded(*sources, kp, e.key_mark)) ++*recorded;
        if (props.contains(e.key)) {
          Walk(e.value, props[e.key], kp);
        } else if (s.contains("additionalProperties")) {
          Walk(e.value, s["additionalProperties"], kp);
        } else {
          Problem(kp, "not in the schema: the API server would prune it");
        }
      }
      return;
    }
    if (n.IsSequence()) {
      if (type != "array") return Problem(path, "a list where the schema has " + type);
      for (size_t i = 0; i < n.items.size(); ++i) {
        Walk(n.items[i], s["items"], spec::IndexPath(path, i));
      }
      return;
    }
    CheckScalar(n, s, path);
  }
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> CorpusFiles() {
  std::vector<fs::path> out;
  for (const fs::path& root :
       {fs::path(RAMP_SOURCE_DIR) / "examples", fs::path(RAMP_SHARED_DIR) / "conformance"}) {
    if (!fs::exists(root)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
        out.push_back(e.path());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CrdSchemaTest, EveryDecodedFieldOfTheCorpusIsInTheSchema) {
  ASSERT_TRUE(fs::exists(fs::path(RAMP_SHARED_DIR) / "conformance"))
      << "the conformance corpus is missing: " << RAMP_SHARED_DIR;
  std::vector<std::string> problems;
  std::map<std::string, int> decoded;
  size_t recorded = 0;
  size_t fields = 0;
  int refused = 0;
  for (const fs::path& file : CorpusFiles()) {
    auto docs = spec::ParseDocuments(ReadFile(file), file.string());
    if (!docs) continue;  // syntax errors are the lint tests' business
    for (const spec::Document& doc : *docs) {
      const spec::Node* api = doc.root.Find("apiVersion");
      const spec::Node* kind = doc.root.Find("kind");
      if (api == nullptr || kind == nullptr || !api->IsScalar() || !kind->IsScalar()) continue;
      if (api->scalar.rfind("argoproj.io/", 0) != 0) continue;
      if (ModelsByKind().count(kind->scalar) == 0) continue;
      spec::Diagnostics diags;
      spec::SourceMap sources;
      spec::DecodeContext ctx(file.string(), &diags, &sources);
      Decode(kind->scalar, &ctx, doc.root);
      if (diags.HasErrors()) {
        ++refused;  // only what decodes cleanly reaches the API server through ramp
        continue;
      }
      ++decoded[kind->scalar];
      const json schema = Schema(kind->scalar);
      const std::string where =
          file.string() + " (document " + std::to_string(doc.index) + ", " + kind->scalar + ")";
      CorpusWalk walk{&sources, where, &problems, &recorded, &fields};
      for (const spec::MapEntry& e : doc.root.entries) {
        ++fields;
        if (Recorded(sources, e.key, e.key_mark)) ++recorded;
        if (e.key == "metadata") continue;  // ObjectMeta: the API server's own schema
        const json& props = schema["properties"];
        if (!props.contains(e.key)) {
          // The templates' CRDs have no status: the decoders ignore one, the API server prunes
          // it (analysis_decode.cc DecodeTemplateDocument).
          if (e.key == "status" && kind->scalar.find("AnalysisTemplate") != std::string::npos) {
            continue;
          }
          walk.Problem(e.key, "not in the schema");
          continue;
        }
        walk.Walk(e.value, props[e.key], e.key);
      }
    }
  }
  for (const std::string& p : problems) ADD_FAILURE() << p;
  std::string summary;
  for (const auto& [kind, n] : decoded) summary += " " + kind + " " + std::to_string(n);
  std::cout << "decoded:" << summary << "; fields " << fields << ", recorded " << recorded
            << ", refused documents " << refused << "\n";
  // The corpus exercises every kind, and the walk really saw what the decoders recorded.
  for (const auto& [kind, model] : ModelsByKind()) {
    EXPECT_GT(decoded[kind], 0) << "no " << kind << " in the corpus decoded cleanly";
  }
  EXPECT_GT(recorded, 1500u) << "fields " << fields << ", documents refused " << refused;
  EXPECT_LE(recorded, fields);
}

// ---- schema → decoder --------------------------------------------------------------------------

// One value of every field the schema declares: strings "x", integers 1, numbers 1.5, booleans
// true, int-or-strings 1, one item per list, one key per map, free-form parts empty objects.
json Maximal(const json& s) {
  if (Preserves(s) || IntOrString(s)) return IntOrString(s) ? json(1) : json::object();
  const std::string type = s.value("type", "");
  if (type == "string") return "x";
  if (type == "integer") return 1;
  if (type == "number") return 1.5;
  if (type == "boolean") return true;
  if (type == "array") return json::array({Maximal(s["items"])});
  json out = json::object();
  const json props = s.value("properties", json::object());
  for (const auto& [name, prop] : props.items()) out[name] = Maximal(prop);
  if (s.contains("additionalProperties")) out["k"] = Maximal(s["additionalProperties"]);
  return out;
}

json MaximalDocument(const std::string& kind) {
  json doc = Maximal(Schema(kind));
  doc["apiVersion"] = "argoproj.io/v1alpha1";
  doc["kind"] = kind;
  doc["metadata"] = {{"name", "max"}, {"namespace", "default"}};
  return doc;
}

struct Decoded {
  spec::Diagnostics diags;
  spec::SourceMap sources;
  spec::Document doc;
};

// Decodes `doc` written as indented JSON (every key on its own line).
std::unique_ptr<Decoded> DecodeJson(const std::string& kind, const json& doc) {
  auto out = std::make_unique<Decoded>();
  auto docs = spec::ParseDocuments(doc.dump(2), "maximal.json");
  EXPECT_TRUE(docs.has_value());
  if (!docs || docs->size() != 1) return out;
  out->doc = std::move((*docs)[0]);
  spec::DecodeContext ctx("maximal.json", &out->diags, &out->sources);
  Decode(kind, &ctx, out->doc.root);
  return out;
}

// Every key of `n` under the schema's declared fields (not inside free-form parts) was recorded.
void ExpectRecorded(const spec::Node& n, const json& s, const std::string& path,
                    const spec::SourceMap& sources, const std::string& kind) {
  if (Preserves(s) || IntOrString(s)) return;
  if (n.IsMap()) {
    const json& props = s.value("properties", json::object());
    for (const spec::MapEntry& e : n.entries) {
      const std::string kp = spec::ChildPath(path, e.key);
      if (path.empty() && e.key == "metadata") continue;
      EXPECT_TRUE(Recorded(sources, kp, e.key_mark))
          << kind << ": " << kp << " is in the schema but the decoder never reads it";
      const json& sub =
          props.contains(e.key) ? props[e.key] : s.value("additionalProperties", json());
      if (!sub.is_null()) ExpectRecorded(e.value, sub, kp, sources, kind);
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.items.size(); ++i) {
      ExpectRecorded(n.items[i], s["items"], spec::IndexPath(path, i), sources, kind);
    }
  }
}

TEST(CrdSchemaTest, EveryFieldOfTheSchemaIsReadByTheDecoder) {
  for (const auto& [kind, model] : ModelsByKind()) {
    SCOPED_TRACE(kind);
    json doc = MaximalDocument(kind);
    auto decoded = DecodeJson(kind, doc);
    size_t errors = 0;
    for (const spec::Diagnostic& d : decoded->diags.items()) {
      if (d.severity != spec::Severity::kError) continue;
      ++errors;
      // Rule errors are expected (one field of every kind at once breaks Argo's rules); a field
      // the decoder does not know, or reads with another type, is the schema's mistake.
      EXPECT_EQ(d.message.find("unknown field"), std::string::npos) << d.ToString();
      EXPECT_NE(d.message.rfind("expected ", 0), 0u) << d.ToString();
    }
    EXPECT_GT(errors, 0u) << "the maximal document breaks rules; the decoder must have said so";
    ExpectRecorded(decoded->doc.root, Schema(kind), "", decoded->sources, kind);
  }
}

// (path in the document, the field) of every required field, with the document path of its
// parent (list items are the first one).
void RequiredFields(const json& s, const std::string& path,
                    std::vector<std::pair<std::string, std::string>>* out) {
  if (Preserves(s) || IntOrString(s)) return;
  if (s.value("type", "") == "array")
    return RequiredFields(s["items"], spec::IndexPath(path, 0), out);
  for (const auto& name : s.value("required", json::array())) out->emplace_back(path, name);
  const json props = s.value("properties", json::object());
  for (const auto& [name, prop] : props.items()) {
    RequiredFields(prop, spec::ChildPath(path, name), out);
  }
  if (s.contains("additionalProperties")) {
    RequiredFields(s["additionalProperties"], spec::ChildPath(path, "k"), out);
  }
}

// Removes the field at `parent` (a path of keys and [0] items) + `name` from `doc`.
bool Remove(json& doc, const std::string& parent, const std::string& name) {
  json* at = &doc;
  size_t i = 0;
  while (i < parent.size()) {
    if (parent[i] == '.') {
      ++i;
      continue;
    }
    if (parent[i] == '[') {
      size_t end = parent.find(']', i);
      if (!at->is_array()) return false;
      at = &(*at)[std::stoul(parent.substr(i + 1, end - i - 1))];
      i = end + 1;
      continue;
    }
    size_t end = parent.find_first_of(".[", i);
    const std::string key = parent.substr(i, end == std::string::npos ? end : end - i);
    if (!at->is_object() || !at->contains(key)) return false;
    at = &(*at)[key];
    i = end == std::string::npos ? parent.size() : end;
  }
  return at->is_object() && at->erase(name) == 1;
}

std::set<std::string> ErrorsAt(const spec::Diagnostics& diags) {
  std::set<std::string> out;
  for (const spec::Diagnostic& d : diags.items()) {
    if (d.severity == spec::Severity::kError) out.insert(d.path + "\n" + d.message);
  }
  return out;
}

TEST(CrdSchemaTest, EveryRequiredFieldIsOneTheDecoderRefusesToGoWithout) {
  size_t checked = 0;
  for (const auto& [kind, model] : ModelsByKind()) {
    SCOPED_TRACE(kind);
    const json base_doc = MaximalDocument(kind);
    const std::set<std::string> base = ErrorsAt(DecodeJson(kind, base_doc)->diags);
    std::vector<std::pair<std::string, std::string>> required;
    RequiredFields(Schema(kind), "", &required);
    for (const auto& [parent, name] : required) {
      const std::string path = spec::ChildPath(parent, name);
      json doc = base_doc;
      ASSERT_TRUE(Remove(doc, parent, name)) << path;
      bool reported = false;
      for (const std::string& e : ErrorsAt(DecodeJson(kind, doc)->diags)) {
        if (e.rfind(path + "\n", 0) == 0 && base.count(e) == 0) reported = true;
      }
      EXPECT_TRUE(reported) << path
                            << " is required by the schema, but the decoder accepts a "
                               "document without it";
      ++checked;
    }
  }
  EXPECT_GT(checked, 50u);
}

// ---- structural rules --------------------------------------------------------------------------

void CheckStructural(const json& s, const std::string& path, bool root,
                     std::vector<std::string>* problems) {
  auto problem = [&](const std::string& what) { problems->push_back(path + ": " + what); };
  static const std::set<std::string> kKeys = {"type",
                                              "format",
                                              "properties",
                                              "additionalProperties",
                                              "items",
                                              "required",
                                              "x-kubernetes-preserve-unknown-fields",
                                              "x-kubernetes-int-or-string"};
  for (const auto& [key, value] : s.items()) {
    if (kKeys.count(key) == 0) problem("unexpected keyword " + key);
  }
  if (IntOrString(s)) {
    if (s.size() != 1) problem("int-or-string carries other keywords");
    return;
  }
  const std::string type = s.value("type", "");
  if (type.empty() && !Preserves(s)) problem("no type");
  static const std::set<std::string> kTypes = {"",        "object", "array",  "string",
                                               "integer", "number", "boolean"};
  if (kTypes.count(type) == 0) problem("unknown type " + type);
  if (s.contains("format") &&
      !(type == "integer" && (s["format"] == "int32" || s["format"] == "int64"))) {
    problem("format " + s["format"].dump() + " on " + type);
  }
  if (Preserves(s)) {
    // Free-form parts are kept whole: nothing is declared under them.
    if (s.contains("properties") || s.contains("additionalProperties") || s.contains("items")) {
      problem("fields declared under x-kubernetes-preserve-unknown-fields");
    }
    if (!type.empty() && type != "object") problem("preserved " + type);
    return;
  }
  if (type == "array") {
    if (!s.contains("items")) return problem("an array without items");
    CheckStructural(s["items"], path + "[]", false, problems);
  } else if (s.contains("items")) {
    problem("items on " + type);
  }
  if (type != "object" &&
      (s.contains("properties") || s.contains("additionalProperties") || s.contains("required"))) {
    problem("object keywords on " + type);
  }
  if (s.contains("properties") && s.contains("additionalProperties")) {
    problem("both properties and additionalProperties");
  }
  const json props = s.value("properties", json::object());
  for (const auto& name : s.value("required", json::array())) {
    if (!props.contains(name.get<std::string>()))
      problem("required " + name.dump() + " undeclared");
  }
  for (const auto& [name, prop] : props.items()) {
    if (root && name == "metadata") {
      // The API server allows nothing but the type at the root's metadata.
      if (prop != json{{"type", "object"}}) problem("metadata must be {type: object}");
      continue;
    }
    CheckStructural(prop, path + "." + name, false, problems);
  }
  if (s.contains("additionalProperties")) {
    CheckStructural(s["additionalProperties"], path + ".*", false, problems);
  }
}

TEST(CrdSchemaTest, SchemasAreStructural) {
  for (const auto& [kind, model] : ModelsByKind()) {
    std::vector<std::string> problems;
    const json s = Schema(kind);
    CheckStructural(s, kind, true, &problems);
    for (const std::string& p : problems) ADD_FAILURE() << p;
    EXPECT_EQ(s["type"], "object");
    EXPECT_EQ(s["properties"]["apiVersion"], json({{"type", "string"}}));
    EXPECT_EQ(s["properties"]["kind"], json({{"type", "string"}}));
    EXPECT_TRUE(s["properties"].contains("spec")) << kind;
    const bool has_status = s["properties"].contains("status");
    EXPECT_EQ(has_status, model.status_subresource) << kind;
    if (has_status) {
      EXPECT_EQ(s["properties"]["status"],
                json({{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}));
    }
  }
  // The parts ramp keeps as written are free-form, IntOrStrings are int-or-string.
  const json ro = Schema("Rollout");
  const json canary = At(
      ro, {"properties", "spec", "properties", "strategy", "properties", "canary", "properties"});
  const json step = At(canary, {"steps", "items", "properties"});
  EXPECT_TRUE(Preserves(At(ro, {"properties", "spec", "properties", "template"})));
  EXPECT_TRUE(IntOrString(At(canary, {"maxSurge"})));
  EXPECT_TRUE(IntOrString(At(step, {"pause", "properties", "duration"})));
  EXPECT_TRUE(Preserves(At(canary, {"trafficRouting", "properties", "plugins"})));
  EXPECT_TRUE(Preserves(At(step, {"plugin", "properties", "config"})));
  const json provider =
      At(Schema("AnalysisTemplate"), {"properties", "spec", "properties", "metrics", "items",
                                      "properties", "provider", "properties"});
  EXPECT_TRUE(Preserves(At(provider, {"job", "properties", "spec"})));
  EXPECT_TRUE(Preserves(At(provider, {"plugin"})));
  EXPECT_TRUE(Preserves(At(provider, {"web", "properties", "jsonBody"})));
}

TEST(CrdSchemaTest, CustomResourceDefinitionsNameTheKindsAsArgoDoes) {
  struct Want {
    std::string kind, plural, short_name, scope;
    bool status;
  };
  const std::vector<Want> want = {
      {"Rollout", "rollouts", "ro", "Namespaced", true},
      {"AnalysisTemplate", "analysistemplates", "at", "Namespaced", false},
      {"ClusterAnalysisTemplate", "clusteranalysistemplates", "cat", "Cluster", false},
      {"AnalysisRun", "analysisruns", "ar", "Namespaced", true},
      {"Experiment", "experiments", "exp", "Namespaced", true},
  };
  std::vector<CrdModel> models = ArgoCrdModels();
  ASSERT_EQ(models.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].kind);
    const json crd = json::parse(CustomResourceDefinition(models[i]).dump());
    EXPECT_EQ(crd["apiVersion"], "apiextensions.k8s.io/v1");
    EXPECT_EQ(crd["kind"], "CustomResourceDefinition");
    EXPECT_EQ(crd["metadata"]["name"], want[i].plural + ".argoproj.io");
    const json& spec = crd["spec"];
    EXPECT_EQ(spec["group"], "argoproj.io");
    EXPECT_EQ(spec["scope"], want[i].scope);
    EXPECT_EQ(spec["names"]["kind"], want[i].kind);
    EXPECT_EQ(spec["names"]["listKind"], want[i].kind + "List");
    EXPECT_EQ(spec["names"]["plural"], want[i].plural);
    EXPECT_EQ(spec["names"]["shortNames"], json::array({want[i].short_name}));
    ASSERT_EQ(spec["versions"].size(), 1u);
    const json& v = spec["versions"][0];
    EXPECT_EQ(v["name"], "v1alpha1");
    EXPECT_EQ(v["served"], true);
    EXPECT_EQ(v["storage"], true);
    EXPECT_EQ(v.contains("subresources") && v["subresources"].contains("status"), want[i].status);
    EXPECT_EQ(v["schema"]["openAPIV3Schema"], Schema(want[i].kind));
  }
  const json ro = json::parse(CustomResourceDefinition(models[0]).dump());
  EXPECT_EQ(ro["spec"]["names"]["categories"], json::array({"all"}));
  EXPECT_EQ(ro["spec"]["versions"][0]["subresources"]["scale"],
            json({{"specReplicasPath", ".spec.replicas"},
                  {"statusReplicasPath", ".status.HPAReplicas"},
                  {"labelSelectorPath", ".status.selector"}}));
  std::vector<std::string> columns;
  for (const json& c : ro["spec"]["versions"][0]["additionalPrinterColumns"]) {
    columns.push_back(c["name"]);
  }
  EXPECT_EQ(columns,
            (std::vector<std::string>{"Desired", "Current", "Up-to-date", "Available", "Age"}));
  EXPECT_EQ(ro["spec"]["versions"][0]["additionalPrinterColumns"][4]["type"], "date");
}

// ---- YAML
// ----------------------------------------------------------------------------------------

TEST(CrdSchemaTest, YamlReadsBackAsTheSameJson) {
  for (const CrdModel& m : ArgoCrdModels()) {
    const ojson crd = CustomResourceDefinition(m);
    auto docs = spec::ParseDocuments(ToYaml(crd), m.kind + ".yaml");
    ASSERT_TRUE(docs.has_value()) << docs.error().ToString();
    ASSERT_EQ(docs->size(), 1u);
    EXPECT_EQ(spec::ToJson((*docs)[0].root), json::parse(crd.dump())) << m.kind;
  }
  // (ramp's own reader refuses a document whose first key is quoted: "first" leads.)
  const ojson tricky = {{"first", "plain"},
                        {"on", "yes"},
                        {"empty", ""},
                        {"num", "10"},
                        {"float", "1.5"},
                        {"colon", "a: b"},
                        {"hash", "a #b"},
                        {"flow", "{x}"},
                        {"dash", "-x"},
                        {"null", "null"},
                        {"tilde", "~"},
                        {"unicode", "ä ‖"},
                        {"nl", "a\nb"},
                        {"plain", "a/b.c"},
                        {"list", ojson::array({ojson::object(), ojson::array()})},
                        {"nested", ojson::array({ojson::array({1, "2"})})}};
  auto docs = spec::ParseDocuments(ToYamlDocuments({tricky, tricky}, {"header"}), "t.yaml");
  ASSERT_TRUE(docs.has_value()) << docs.error().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(spec::ToJson((*docs)[1].root), json::parse(tricky.dump()));
  EXPECT_TRUE(IsPlainSafe("ramp-system"));
  EXPECT_TRUE(IsPlainSafe("ramp:0.1.0"));
  for (const char* s : {"On", "NO", "y", "1", "-a", ".inf", "a: b", "", "a ", "x,y", "[a]", "'a"}) {
    EXPECT_FALSE(IsPlainSafe(s)) << s;
  }
}

}  // namespace
}  // namespace ramp::install
