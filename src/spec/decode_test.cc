#include "spec/decode.h"

#include <gtest/gtest.h>

#include "spec/common.h"

namespace ramp::spec {
namespace {

struct Fixture {
  explicit Fixture(const std::string& text) {
    auto d = ParseDocuments(text, "t.yaml");
    EXPECT_TRUE(d.has_value());
    docs = std::move(*d);
  }
  const Node& root() { return docs[0].root; }
  std::vector<Document> docs;
  Diagnostics diags;
  SourceMap sources;
  DecodeContext ctx{"t.yaml", &diags, &sources};
};

TEST(ObjectReader, UnknownFieldWithSuggestion) {
  Fixture f("name: x\nreplcas: 3\n");
  ObjectReader r(&f.ctx, &f.root(), "spec");
  EXPECT_EQ(r.String("name"), "x");
  EXPECT_FALSE(r.Int32("replicas").has_value());
  r.Finish();
  ASSERT_EQ(f.diags.items().size(), 1u);
  EXPECT_EQ(f.diags.items()[0].ToString(),
            "t.yaml:2:1: spec.replcas: unknown field \"replcas\" (did you mean \"replicas\"?)");
}

TEST(ObjectReader, TypeErrors) {
  Fixture f("a: \"5\"\nb: [1]\nc: maybe\n");
  ObjectReader r(&f.ctx, &f.root(), "x");
  EXPECT_FALSE(r.Int32("a").has_value());
  EXPECT_FALSE(r.String("b").has_value());
  EXPECT_FALSE(r.Bool("c").has_value());
  r.Finish();
  ASSERT_EQ(f.diags.ErrorCount(), 3u);
  EXPECT_NE(f.diags.items()[0].message.find("expected an integer, got string \"5\""),
            std::string::npos);
  EXPECT_EQ(f.diags.items()[0].path, "x.a");
}

TEST(ObjectReader, NullIsAbsent) {
  Fixture f("a: null\nb: ~\nc:\n");
  ObjectReader r(&f.ctx, &f.root(), "x");
  EXPECT_FALSE(r.Has("a"));
  EXPECT_FALSE(r.Has("b"));
  EXPECT_FALSE(r.Has("c"));
  r.Finish();
  EXPECT_FALSE(f.diags.HasErrors());
}

TEST(ObjectReader, LenientIgnoresUnknown) {
  Fixture f("a: 1\nzzz: 2\n");
  ObjectReader r(&f.ctx, &f.root(), "x", ObjectReader::Mode::kLenient);
  EXPECT_EQ(r.Int32("a"), 1);
  r.Finish();
  EXPECT_FALSE(f.diags.HasErrors());
}

TEST(ObjectReader, NotAMap) {
  Fixture f("- 1\n");
  ObjectReader r(&f.ctx, &f.root(), "spec");
  EXPECT_FALSE(r.valid());
  EXPECT_NE(f.diags.items()[0].message.find("expected a map"), std::string::npos);
}

TEST(SourceMap, FallsBackToAncestor) {
  SourceMap m;
  m.Record("spec.steps[2]", Mark{14, 7});
  EXPECT_EQ(m.Lookup("spec.steps[2].setWeight").line, 14);
  EXPECT_EQ(m.Lookup("spec.plugins[\"ramp/x\"].a").line, 0);
  m.Record("spec", Mark{3, 1});
  EXPECT_EQ(m.Lookup("spec.plugins[\"ramp/x.y\"].a").line, 3);
}

TEST(DidYouMean, OnlyCloseWords) {
  EXPECT_EQ(DidYouMean("setWieght", {"setWeight", "pause"}), "setWeight");
  EXPECT_EQ(DidYouMean("unknown-strategy", {"canary", "blueGreen"}), "");
}

TEST(GoDuration, Parses) {
  EXPECT_EQ(ParseGoDuration("30s"), 30'000'000'000);
  EXPECT_EQ(ParseGoDuration("1h30m"), 5400'000'000'000);
  EXPECT_EQ(ParseGoDuration("1.5h"), 5400'000'000'000);
  EXPECT_EQ(ParseGoDuration("500ms"), 500'000'000);
  EXPECT_EQ(ParseGoDuration("-1m"), -60'000'000'000);
  EXPECT_EQ(ParseGoDuration("0"), 0);
  EXPECT_FALSE(ParseGoDuration("30").has_value());
  EXPECT_FALSE(ParseGoDuration("1d").has_value());
  EXPECT_FALSE(ParseGoDuration("").has_value());
  EXPECT_FALSE(ParseGoDuration("s").has_value());
  EXPECT_FALSE(ParseGoDuration("1h 30m").has_value());
}

TEST(GoDuration, Formats) {
  EXPECT_EQ(FormatGoDuration(5400'000'000'000), "1h30m0s");
  EXPECT_EQ(FormatGoDuration(500'000'000), "500ms");
  EXPECT_EQ(FormatGoDuration(1'500'000'000), "1.5s");
  EXPECT_EQ(FormatGoDuration(0), "0s");
}

TEST(DurationString, BareNumberNamesMissingUnit) {
  Fixture f("interval: \"30\"\n");
  auto d = ReadDurationString(&f.ctx, *f.root().Find("interval"), "metrics[0].interval");
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->nanos.has_value());
  ASSERT_EQ(f.diags.ErrorCount(), 1u);
  EXPECT_NE(f.diags.items()[0].message.find("missing unit"), std::string::npos);
}

}  // namespace
}  // namespace ramp::spec

namespace ramp::spec {
namespace {

TEST(DidYouMean, CaseOnlyTypo) {
  EXPECT_EQ(DidYouMean("specref", {"specRef", "name"}), "specRef");
  EXPECT_EQ(DidYouMean("name", {"name"}), "");
}

}  // namespace
}  // namespace ramp::spec
