#include <string>

#include "gtest/gtest.h"
#include "service/auth/sha256.h"

namespace loraplex::service {
namespace {

// FIPS 180-2 test vectors.
constexpr char kEmptySha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcSha256[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Sha256Test, MatchesKnownDigests) {
  EXPECT_EQ(Sha256Hex(""), kEmptySha256);
  EXPECT_EQ(Sha256Hex("abc"), kAbcSha256);
}

TEST(Sha256Test, IncrementalEqualsOneShotAndFinishStartsOver) {
  Sha256 hasher;
  hasher.Update("a");
  hasher.Update("");
  hasher.Update("bc");
  EXPECT_EQ(DigestToHex(hasher.Finish()), kAbcSha256);
  EXPECT_EQ(DigestToHex(hasher.Finish()), kEmptySha256);
  hasher.Update("abc");
  Sha256 moved = std::move(hasher);
  EXPECT_EQ(DigestToHex(moved.Finish()), kAbcSha256);
}

TEST(Sha256Test, ParsesHexOfEitherCase) {
  Sha256Digest lower{}, upper{};
  ASSERT_TRUE(ParseSha256Hex(kAbcSha256, &lower));
  std::string upper_hex = kAbcSha256;
  for (char& c : upper_hex) {
    c = static_cast<char>(toupper(c));
  }
  ASSERT_TRUE(ParseSha256Hex(upper_hex, &upper));
  EXPECT_TRUE(DigestsEqual(lower, upper));
  EXPECT_TRUE(DigestsEqual(lower, Sha256Of("abc")));
  EXPECT_FALSE(DigestsEqual(lower, Sha256Of("abd")));
}

TEST(Sha256Test, RejectsMalformedHex) {
  Sha256Digest digest{};
  const std::string valid = kAbcSha256;
  for (const std::string& bad :
       {std::string(), valid.substr(1), valid + "0", "g" + valid.substr(1),
        " " + valid.substr(1)}) {
    EXPECT_FALSE(IsSha256Hex(bad)) << bad;
    EXPECT_FALSE(ParseSha256Hex(bad, &digest)) << bad;
  }
  EXPECT_TRUE(IsSha256Hex(valid));
}

}  // namespace
}  // namespace loraplex::service
