// The signer against cases of AWS's published Signature Version 4 test suite (credentials
// AKIDEXAMPLE, region us-east-1, service "service", 2015-08-30T12:36:00Z): the expected
// canonical requests, string-to-sign hashes and signatures are the suite's.
#include "auth/sigv4.h"

#include <gtest/gtest.h>

namespace ramp::auth {
namespace {

const AwsCredentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const Time kSuiteTime = Time(std::chrono::seconds(1'440'938'160));  // 2015-08-30T12:36:00Z

SigV4Result Sign(SigV4Request r) {
  r.host = "example.amazonaws.com";
  return SignV4(r, kSuite, "us-east-1", "service", kSuiteTime);
}

std::string Auth(std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         std::string(signed_headers) + ", Signature=" + std::string(signature);
}

TEST(SigV4, GetVanilla) {
  SigV4Result r = Sign({});
  EXPECT_EQ(r.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(r.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(
      r.authorization,
      Auth("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  EXPECT_EQ(r.amz_date, "20150830T123600Z");
}

TEST(SigV4, PostVanilla) {
  SigV4Request req;
  req.method = "POST";
  EXPECT_EQ(
      Sign(req).authorization,
      Auth("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

TEST(SigV4, QueryIsSortedByKey) {
  SigV4Request req;
  req.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  SigV4Result r = Sign(req);
  EXPECT_NE(r.canonical_request.find("\n/\nParam1=value1&Param2=value2\n"), std::string::npos);
  EXPECT_EQ(r.string_to_sign.substr(r.string_to_sign.rfind('\n') + 1),
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(
      r.authorization,
      Auth("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
}

TEST(SigV4, HeaderNamesAreLowercasedAndSigned) {
  SigV4Request req;
  req.method = "POST";
  req.headers = {{"My-Header1", "VALUE1"}};
  EXPECT_EQ(Sign(req).authorization,
            Auth("host;my-header1;x-amz-date",
                 "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"));
}

TEST(SigV4, HeaderValuesAreTrimmedAndSpacesCollapsed) {
  SigV4Request req;
  req.headers = {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}};
  SigV4Result r = Sign(req);
  EXPECT_NE(r.canonical_request.find("my-header1:value1\nmy-header2:\"a b c\"\n"),
            std::string::npos)
      << r.canonical_request;
  EXPECT_EQ(r.authorization,
            Auth("host;my-header1;my-header2;x-amz-date",
                 "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"));
}

TEST(SigV4, RepeatedHeadersAreJoinedInOrder) {
  SigV4Request req;
  req.headers = {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}};
  EXPECT_EQ(Sign(req).authorization,
            Auth("host;my-header1;x-amz-date",
                 "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"));
}

TEST(SigV4, UnreservedPathCharactersStay) {
  SigV4Request req;
  req.path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(
      Sign(req).authorization,
      Auth("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"));
}

TEST(SigV4, SessionTokenIsSignedAndSent) {
  AwsCredentials temp = kSuite;
  temp.session_token = "token";
  SigV4Request req;
  req.host = "example.amazonaws.com";
  SigV4Result r = SignV4(req, temp, "us-east-1", "service", kSuiteTime);
  EXPECT_NE(r.authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            std::string::npos);
  ASSERT_EQ(r.headers_to_add.size(), 3u);
  EXPECT_EQ(r.headers_to_add[1].first, "X-Amz-Security-Token");
  EXPECT_EQ(r.headers_to_add[1].second, "token");
}

TEST(SigV4, UriEncode) {
  EXPECT_EQ(UriEncode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", false), "%E1%88%B4");
}

}  // namespace
}  // namespace ramp::auth
