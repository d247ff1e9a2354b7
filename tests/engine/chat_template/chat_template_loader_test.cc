// LoadChatTemplate: where the template and the special tokens come from, and
// the demo model's template.
#include <fstream>
#include <string>

#include "engine/chat_template/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace loraplex::chat {
namespace {

using Json = nlohmann::ordered_json;
using ::testing::HasSubstr;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string RenderOne(const ChatTemplate& tmpl, const std::string& content) {
  ChatTemplateInputs inputs;
  inputs.messages = Json::array({{{"role", "user"}, {"content", content}}});
  inputs.add_generation_prompt = true;
  absl::StatusOr<std::string> text = tmpl.Render(inputs);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

TEST(ChatTemplateLoaderTest, ReadsTheConfigStringAndAddedTokenObjects) {
  testing::TempDir dir;
  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template",
                  "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"},
                 {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
                 {"eos_token", "</s>"}}
                .dump());
  auto tmpl = LoadChatTemplate(dir.path(), "");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  EXPECT_EQ(RenderOne(**tmpl, "hi"), "<s>hi</s>");
}

TEST(ChatTemplateLoaderTest, PicksTheDefaultOfNamedTemplates) {
  testing::TempDir dir;
  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template",
                  Json::array({{{"name", "tool_use"}, {"template", "tools"}},
                               {{"name", "default"},
                                {"template", "default {{ bos_token }}"}}})},
                 {"bos_token", nullptr}}
                .dump());
  auto tmpl = LoadChatTemplate(dir.path(), "");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  EXPECT_EQ(RenderOne(**tmpl, "x"), "default ");

  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template",
                  Json::array({{{"name", "tool_use"}, {"template", "t"}}})}}
                .dump());
  auto missing = LoadChatTemplate(dir.path(), "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("tool_use"));
}

TEST(ChatTemplateLoaderTest, JinjaFileTakesPriorityAndOverrideFileWins) {
  testing::TempDir dir;
  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template", "from config"}, {"eos_token", "E"}}.dump());
  WriteFile(dir.Join("chat_template.jinja"), "from jinja {{ eos_token }}\n");
  auto tmpl = LoadChatTemplate(dir.path(), "");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  // The file's one trailing newline is dropped (keep_trailing_newline=False).
  EXPECT_EQ(RenderOne(**tmpl, "x"), "from jinja E");

  WriteFile(dir.Join("override.jinja"), "override");
  tmpl = LoadChatTemplate(dir.path(), dir.Join("override.jinja"));
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  EXPECT_EQ(RenderOne(**tmpl, "x"), "override");
}

TEST(ChatTemplateLoaderTest, NoTemplateIsNotFoundAndBadOnesAreInvalid) {
  testing::TempDir dir;
  WriteFile(dir.Join("tokenizer_config.json"), Json{{"eos_token", "E"}}.dump());
  EXPECT_EQ(LoadChatTemplate(dir.path(), "").status().code(),
            absl::StatusCode::kNotFound);

  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template", "ok\n{{ x|xmlattr }}"}}.dump());
  auto bad = LoadChatTemplate(dir.path(), "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(),
              HasSubstr("line 2: filter 'xmlattr' is not supported"));

  WriteFile(dir.Join("tokenizer_config.json"), "{\"chat_template\": ");
  EXPECT_EQ(LoadChatTemplate(dir.path(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  WriteFile(dir.Join("tokenizer_config.json"),
            Json{{"chat_template", "x"}, {"bos_token", 3}}.dump());
  EXPECT_EQ(LoadChatTemplate(dir.path(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The embedded demo model's template: BOS, then the messages' contents as
// paragraphs; the reply continues the text. The BOS text encodes to the
// BOS id once (the server encodes rendered text without special tokens).
TEST(ChatTemplateLoaderTest, DemoModelTemplateLoadsAndRenders) {
  const std::string demo =
      std::string(LORAPLEX_TEST_DATA_DIR) + "/../../models/demo";
  auto tmpl = LoadChatTemplate(demo, "");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  ChatTemplateInputs inputs;
  inputs.messages =
      Json::array({{{"role", "system"}, {"content", "Be wise."}},
                   {{"role", "user"}, {"content", "The best way to"}}});
  inputs.add_generation_prompt = true;
  absl::StatusOr<std::string> text = (*tmpl)->Render(inputs);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "<|begin_of_text|>Be wise.\n\nThe best way to");

  auto tokenizer = engine::Tokenizer::Load(demo);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto ids = (*tokenizer)->Encode(*text, /*add_special_tokens=*/false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_FALSE(ids->empty());
  EXPECT_EQ((*ids)[0], *(*tokenizer)->bos_token_id());
  EXPECT_EQ(std::count(ids->begin(), ids->end(), *(*tokenizer)->bos_token_id()),
            1);

  inputs.messages =
      Json::array({{{"role", "user"}, {"content", Json::array()}}});
  text = (*tmpl)->Render(inputs);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "The demo model takes text content only.");
}

}  // namespace
}  // namespace loraplex::chat
