// Every reference rendering in tests/data/fixtures/chat-templates (made with
// Python jinja2 the way transformers renders templates; see the README
// there) must come out byte for byte, errors included.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/chat_template/chat_template.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace loraplex::chat {
namespace {

using Json = nlohmann::ordered_json;

std::string FixtureDir(const std::string& model) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/chat-templates/" +
         model;
}

Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

// The fixtures' clock: `now` (naive ISO 8601, local time) or 2024-07-26
// 12:00:00.
absl::Time CaseClock(const Json& c) {
  absl::Time t = absl::FromCivil(absl::CivilSecond(2024, 7, 26, 12, 0, 0),
                                 absl::LocalTimeZone());
  if (c.contains("now")) {
    std::string err;
    EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%S",
                                c["now"].get<std::string>(),
                                absl::LocalTimeZone(), &t, &err))
        << err;
  }
  return t;
}

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, EveryCaseRendersExactly) {
  const std::string dir = FixtureDir(GetParam());
  auto tmpl = LoadChatTemplate(dir, "");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  const Json cases = ReadJson(dir + "/cases.json");
  ASSERT_TRUE(cases.is_array());
  ASSERT_FALSE(cases.empty());
  int checked = 0;
  for (const Json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ChatTemplateInputs inputs;
    inputs.messages = c["messages"];
    inputs.tools = c.contains("tools") ? c["tools"] : Json();
    inputs.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    inputs.extra_kwargs = c.contains("kwargs") ? c["kwargs"] : Json();
    inputs.now = CaseClock(c);
    absl::StatusOr<std::string> text = (*tmpl)->Render(inputs);
    if (c.contains("expected_error")) {
      ASSERT_FALSE(text.ok()) << *text;
      EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(text.status().message(),
                c["expected_error"].get<std::string>());
    } else {
      ASSERT_TRUE(text.ok()) << text.status();
      EXPECT_EQ(*text, c["expected"].get<std::string>());
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
}

INSTANTIATE_TEST_SUITE_P(
    ChatTemplates, FixtureTest,
    ::testing::Values("llama-3-8b-instruct", "mistral-7b-instruct-v0.2",
                      "qwen2.5-7b-instruct", "tinyllama-1.1b-chat-v1.0"),
    [](const ::testing::TestParamInfo<std::string>& param) {
      std::string name;
      for (char c : param.param)
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// Which templates read `tools` (the server refuses tools for the others).
TEST(FixtureTest, ReadsToolsOnlyWhereTheTemplateMentionsThem) {
  auto qwen = LoadChatTemplate(FixtureDir("qwen2.5-7b-instruct"), "");
  auto llama = LoadChatTemplate(FixtureDir("llama-3-8b-instruct"), "");
  ASSERT_TRUE(qwen.ok() && llama.ok());
  EXPECT_TRUE((*qwen)->reads_tools());
  EXPECT_FALSE((*llama)->reads_tools());
}

}  // namespace
}  // namespace loraplex::chat
