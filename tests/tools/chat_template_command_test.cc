// `loraplex chat-template`: JSON Lines in, one {"text"} or {"error"} line out
// per conversation, against the reference renderings of
// tests/data/fixtures/chat-templates.
#include "tools/cli/chat_template_command.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace loraplex::cli {
namespace {

using Json = nlohmann::ordered_json;
using ::testing::HasSubstr;
using ::testing::SizeIs;

std::string FixtureDir(const std::string& model) {
  return std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/chat-templates/" +
         model;
}

struct CommandResult {
  int exit_code;
  std::vector<Json> lines;  // stdout, one JSON value per line.
  std::string out;
  std::string err;
};

CommandResult RunCommand(const std::vector<std::string>& args,
                         const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  CommandResult result;
  result.exit_code = RunChatTemplateCommand(args, in, out, err);
  result.out = out.str();
  result.err = err.str();
  for (absl::string_view line : absl::StrSplit(result.out, '\n')) {
    if (line.empty()) continue;
    result.lines.push_back(
        Json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  return result;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

class ChatTemplateCommandFixtureTest
    : public ::testing::TestWithParam<std::string> {};

// Every fixture case, as a line of input: the command's text (or error) is
// the reference rendering byte for byte.
TEST_P(ChatTemplateCommandFixtureTest, PrintsTheReferenceRenderings) {
  std::ifstream file(FixtureDir(GetParam()) + "/cases.json");
  const Json cases = Json::parse(file);
  std::string input;
  bool any_error = false;
  for (const Json& c : cases) {
    Json line = {{"messages", c["messages"]},
                 {"add_generation_prompt", c["add_generation_prompt"]}};
    if (c.contains("tools")) line["tools"] = c["tools"];
    if (c.contains("kwargs")) line["kwargs"] = c["kwargs"];
    // The fixtures' clock when a case gives none.
    line["now"] = c.value("now", "2024-07-26T12:00:00");
    absl::StrAppend(&input, line.dump(), "\n");
    any_error |= c.contains("expected_error");
  }
  const CommandResult r =
      RunCommand({"--model", FixtureDir(GetParam())}, input);
  EXPECT_EQ(r.exit_code, any_error ? 1 : 0) << r.err;
  ASSERT_THAT(r.lines, SizeIs(cases.size())) << r.out;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i]["name"].get<std::string>());
    if (cases[i].contains("expected_error")) {
      EXPECT_EQ(r.lines[i], Json({{"error", cases[i]["expected_error"]}}));
    } else {
      EXPECT_EQ(r.lines[i], Json({{"text", cases[i]["expected"]}}));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    ChatTemplates, ChatTemplateCommandFixtureTest,
    ::testing::Values("llama-3-8b-instruct", "mistral-7b-instruct-v0.2",
                      "qwen2.5-7b-instruct", "tinyllama-1.1b-chat-v1.0"),
    [](const ::testing::TestParamInfo<std::string>& param) {
      std::string name;
      for (char c : param.param) {
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      }
      return name;
    });

// A bad line gets an error naming its line number and the fault; the lines
// around it still render, blank lines are skipped.
TEST(ChatTemplateCommandTest, BadLinesGetErrorsAndTheRestRender) {
  testing::TempDir dir;
  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template",
                  "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ "
                  "m.content }}{% endfor %}{% if add_generation_prompt %}[a]"
                  "{% endif %} {{ strftime_now('%Y-%m-%d %H:%M') }}"},
                 {"bos_token", "<s>"}}
                .dump());
  const std::string ok =
      R"({"messages": [{"role": "user", "content": "hi"}], )"
      R"("add_generation_prompt": true, "now": "2025-01-02T03:04:05"})";
  const std::string input = ok + "\n" + "not json\n" + "\n" +
                            R"({"add_generation_prompt": true})" + "\n" +
                            R"({"messages": [], "tool": []})" + "\n" +
                            R"({"messages": [], "now": "yesterday"})" + "\n" +
                            R"({"messages": {}})" + "\n" + ok + "\n";
  const CommandResult r = RunCommand({"--model", dir.path()}, input);
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_THAT(r.lines, SizeIs(7)) << r.out;
  const Json rendered = {{"text", "<s>[user] hi[a] 2025-01-02 03:04"}};
  EXPECT_EQ(r.lines[0], rendered);
  EXPECT_EQ(r.lines[6], rendered);
  const std::vector<std::pair<std::string, std::string>> errors = {
      {"line 2: ", "input"},
      {"line 4: ", "'messages' is required"},
      {"line 5: ", "unknown field 'tool'"},
      {"line 6: ", "'now' must be an ISO 8601 time"},
      {"line 7: ", "'messages' must be an array"}};
  for (size_t i = 0; i < errors.size(); ++i) {
    ASSERT_TRUE(r.lines[i + 1].contains("error")) << r.lines[i + 1];
    const std::string error = r.lines[i + 1]["error"];
    EXPECT_THAT(error, ::testing::StartsWith(errors[i].first));
    EXPECT_THAT(error, HasSubstr(errors[i].second));
  }
}

TEST(ChatTemplateCommandTest, TokenizerConfigFileAndOverrideTemplate) {
  testing::TempDir dir;
  WriteFile(dir.Join("cfg.json"),
            Json{{"chat_template", "config {{ eos_token }}"},
                 {"eos_token", {{"content", "</s>"}}}}
                .dump());
  WriteFile(dir.Join("override.jinja"), "override {{ eos_token }}\n");
  const std::string line = "{\"messages\": []}\n";
  CommandResult r =
      RunCommand({"--tokenizer-config", dir.Join("cfg.json")}, line);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"config </s>\"}\n");
  r = RunCommand({"--tokenizer-config", dir.Join("cfg.json"), "--chat-template",
                  dir.Join("override.jinja")},
                 line);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"override </s>\"}\n");
}

TEST(ChatTemplateCommandTest, UsageAndLoadErrors) {
  testing::TempDir dir;
  WriteFile(dir.Join("tokenizer_config.json"), "{\"eos_token\": \"E\"}");
  CommandResult r = RunCommand({}, "");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("exactly one of --model"));
  r = RunCommand({"--model", dir.path(), "--tokenizer-config",
                  dir.Join("tokenizer_config.json")},
                 "");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({"--model", dir.path(), "--bogus"}, "");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({"--model", dir.path()}, "{\"messages\": []}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("the model has no chat template"));
  EXPECT_EQ(r.out, "");

  r = RunCommand({"--help"}, "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Usage: loraplex chat-template"));
}

}  // namespace
}  // namespace loraplex::cli
