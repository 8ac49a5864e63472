#include "spec/yaml_tree.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ramp::spec {
namespace {

TEST(YamlTree, RecordsPositionsOfKeys) {
  auto docs = ParseDocuments("a: 1\nb:\n  c: x\n", "f.yaml");
  ASSERT_TRUE(docs.has_value()) << docs.error().message();
  ASSERT_EQ(docs->size(), 1u);
  const Node& root = (*docs)[0].root;
  ASSERT_TRUE(root.IsMap());
  EXPECT_EQ(root.KeyMark("b").line, 2);
  const Node* b = root.Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->KeyMark("c").line, 3);
  EXPECT_EQ(b->KeyMark("c").column, 3);
}

TEST(YamlTree, DistinguishesQuotedScalars) {
  auto docs = ParseDocuments("a: \"5\"\nb: 5\nc: '5'\n", "f.yaml");
  ASSERT_TRUE(docs.has_value());
  const Node& r = (*docs)[0].root;
  EXPECT_TRUE(r.Find("a")->quoted);
  EXPECT_FALSE(r.Find("b")->quoted);
  EXPECT_TRUE(r.Find("c")->quoted);
  EXPECT_EQ(r.Find("a")->TypeName(), "string");
  EXPECT_EQ(r.Find("b")->TypeName(), "int");
}

TEST(YamlTree, MultipleDocumentsKeepEmptyOnes) {
  auto docs = ParseDocuments("a: 1\n---\n---\nb: 2\n", "f.yaml");
  ASSERT_TRUE(docs.has_value());
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_TRUE((*docs)[1].root.IsNull());
  EXPECT_EQ((*docs)[2].index, 2);
}

TEST(YamlTree, ParsesJson) {
  auto docs = ParseDocuments("{\n  \"a\": {\"b\": [1, 2.5, \"x\", true, null]}\n}\n", "f.json");
  ASSERT_TRUE(docs.has_value()) << docs.error().message();
  nlohmann::json j = ToJson((*docs)[0].root);
  EXPECT_EQ(j["a"]["b"][0], 1);
  EXPECT_EQ(j["a"]["b"][1], 2.5);
  EXPECT_EQ(j["a"]["b"][2], "x");
  EXPECT_EQ(j["a"]["b"][3], true);
  EXPECT_TRUE(j["a"]["b"][4].is_null());
  EXPECT_EQ((*docs)[0].root.Find("a")->mark.line, 2);
}

TEST(YamlTree, SyntaxErrorNamesFileLineAndColumn) {
  auto docs = ParseDocuments("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
  ASSERT_FALSE(docs.has_value());
  EXPECT_EQ(docs.error().message().rfind("bad.yaml:", 0), 0u) << docs.error().message();
  EXPECT_NE(docs.error().message().find("YAML syntax error"), std::string::npos);
}

TEST(YamlTree, AliasBombIsRefusedNotExpandedForever) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c) {
    text += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
    prev = c;
  }
  auto docs = ParseDocuments(text, "bomb.yaml");
  ASSERT_FALSE(docs.has_value());
  EXPECT_NE(docs.error().message().find("nodes"), std::string::npos) << docs.error().message();
}

TEST(YamlTree, DeepNestingIsRefused) {
  std::string text(1000, '[');
  text += std::string(1000, ']');
  auto docs = ParseDocuments(text, "deep.yaml");
  EXPECT_FALSE(docs.has_value());
}

TEST(YamlTree, NulByteIsRefused) {
  std::string text("a: 1\n");
  text.push_back('\0');
  EXPECT_FALSE(ParseDocuments(text, "x").has_value());
}

TEST(YamlScalars, IntsFloatsBools) {
  int64_t i;
  double d;
  bool b;
  EXPECT_TRUE(ParseYamlInt("-42", &i));
  EXPECT_EQ(i, -42);
  EXPECT_TRUE(ParseYamlInt("0x1F", &i));
  EXPECT_EQ(i, 31);
  EXPECT_FALSE(ParseYamlInt("1.5", &i));
  EXPECT_FALSE(ParseYamlInt("99999999999999999999", &i));
  EXPECT_TRUE(ParseYamlFloat("1.5e3", &d));
  EXPECT_EQ(d, 1500);
  EXPECT_FALSE(ParseYamlFloat("1.2.3", &d));
  EXPECT_FALSE(ParseYamlFloat("abc", &d));
  EXPECT_TRUE(ParseYamlBool("True", &b));
  EXPECT_TRUE(b);
  EXPECT_FALSE(ParseYamlBool("yes", &b));
}

}  // namespace
}  // namespace ramp::spec

namespace ramp::spec {
namespace {

TEST(YamlTree, UnquotedTemplateIsReadAsStringWithWarning) {
  auto docs = ParseDocuments("a:\n  b: {{args.x}}\n  c: {d: 1}\n", "t.yaml");
  ASSERT_TRUE(docs.has_value()) << docs.error().message();
  const Node* b = (*docs)[0].root.Find("a")->Find("b");
  ASSERT_TRUE(b->IsScalar());
  EXPECT_EQ(b->scalar, "{{args.x}}");
  EXPECT_TRUE((*docs)[0].root.Find("a")->Find("c")->IsMap());
  ASSERT_EQ((*docs)[0].warnings.size(), 1u);
  EXPECT_EQ((*docs)[0].warnings[0].mark.line, 2);
}

}  // namespace
}  // namespace ramp::spec

namespace ramp::spec {
namespace {

// yaml-cpp 0.7 allocates without bound on these; they must be refused up front.
TEST(YamlTree, ContentAfterARootFlowCollectionIsRefused) {
  for (const char* text : {"[a]x\n?\n", "{a: 1} b", "\"s\"\nx: 1\n"}) {
    auto docs = ParseDocuments(text, "r.yaml");
    ASSERT_FALSE(docs.has_value()) << text;
    EXPECT_NE(docs.error().message().find("after the document's root"), std::string::npos)
        << docs.error().message();
  }
  for (const char* text : {"[a] # c\n", "{\"a\": [1,\n  2]}\n", "[a]\n---\n[b]\n", "\"s\"\n"}) {
    EXPECT_TRUE(ParseDocuments(text, "r.yaml").has_value()) << text;
  }
}

TEST(YamlTree, UnknownDirectiveIsRefused) {
  auto docs = ParseDocuments("%[a\n---\na: 1\n", "d.yaml");
  ASSERT_FALSE(docs.has_value());
  EXPECT_NE(docs.error().message().find("d.yaml:1:1: YAML syntax error: unknown YAML directive"),
            std::string::npos)
      << docs.error().message();
  EXPECT_TRUE(ParseDocuments("%YAML 1.2\n---\na: 1\n", "d.yaml").has_value());
}

// A '%' line after content is a directive in the wrong place; yaml-cpp 0.7 can allocate without
// bound on it, so it is refused with its position before the parser sees it.
TEST(YamlTree, DirectiveAfterContentIsRefused) {
  for (const char* text : {":\n%: {\n,", "a: 1\n%: {\n,", "a: 1\n%YAML 1.2\n"}) {
    auto docs = ParseDocuments(text, "d.yaml");
    ASSERT_FALSE(docs.has_value()) << text;
    EXPECT_NE(
        docs.error().message().find("d.yaml:2:1: YAML syntax error: a line starting with '%'"),
        std::string::npos)
        << docs.error().message();
  }
  // Quoted, indented or inside a block scalar, '%' is content.
  EXPECT_TRUE(ParseDocuments("a: '%x'\nb: |\n  %y\n", "d.yaml").has_value());
}

TEST(YamlTree, ExplicitKeysAreRefused) {
  for (const char* text : {"&a C\n? ", "? a\n: b\n", "x: {? a: 1}\n", "- ? a\n"}) {
    auto docs = ParseDocuments(text, "d.yaml");
    ASSERT_FALSE(docs.has_value()) << text;
    EXPECT_NE(docs.error().message().find("explicit mapping keys ('? ') are not supported"),
              std::string::npos)
        << docs.error().message();
  }
  // '?' as content stays content.
  EXPECT_TRUE(ParseDocuments("a: what?\nb: ?x\nc: '? '\n", "d.yaml").has_value());
}

TEST(YamlTree, DocumentLevelCommaIsRefused) {
  for (const char* text :
       {",", " ,", "[a]\n,", "- a\n,", "a: 1\n---\n,\n", "&a x\"y:\"[z\"a\n,30\"[", "&a,b c",
        "&a ,", "a: ,b", "- ,", "!t,b c", "x: &a,b c", "{\"\": 1},\"spec\": 2", "a: \"x\", y\n",
        "\"multi\nline\",x", "--- ,", "a: 1\n--- ,x\n"}) {
    auto docs = ParseDocuments(text, "c.yaml");
    ASSERT_FALSE(docs.has_value()) << text;
    EXPECT_NE(docs.error().message().find("unexpected ','"), std::string::npos)
        << docs.error().message();
  }
  // Commas inside flow collections, quotes and indented continuations are fine.
  for (const char* text :
       {"a: [1,\n  2]\n", "a: {b: 1\n  , c: 2}\n", "a: \"x,\"\n", "a: [\"x]\",\n, 2]\n",
        "- [a,\n, b]\n", "[&a, b]\n", "a: [!t, x]\n", "a: |\n  echo \"x\n  , y\nb: 1\n",
        "a: >-\n  ,x\n", "a: 'it''s'\nb: 'x, y'\n", "--- [a,\n, b]\n", "---\n--- a\n",
        "---x: 1\n"}) {
    EXPECT_TRUE(ParseDocuments(text, "c.yaml").has_value()) << text;
  }
}

}  // namespace
}  // namespace ramp::spec
