// The interpreter's Jinja/Python semantics, against renderings made by
// Python jinja2 (tests/data/chat_template/semantics_cases.json, written by
// make_semantics_cases.py beside it), and its own refusals and limits.
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/chat_template/chat_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace loraplex::chat {
namespace {

using Json = nlohmann::ordered_json;
using ::testing::HasSubstr;

absl::Time FixedClock() {
  return absl::FromCivil(absl::CivilSecond(2024, 7, 26, 12, 0, 0),
                         absl::LocalTimeZone());
}

// Renders `source` with `vars` as extra variables (messages empty).
absl::StatusOr<std::string> RenderWith(const std::string& source,
                                       const Json& vars = Json::object(),
                                       RenderLimits limits = {}) {
  auto tmpl = ChatTemplate::Parse(source, std::nullopt, std::nullopt, limits);
  if (!tmpl.ok()) return tmpl.status();
  ChatTemplateInputs inputs;
  inputs.messages = Json::array();
  Json kwargs = Json::object();
  for (const auto& [key, value] : vars.items()) {
    if (key == "messages") {
      inputs.messages = value;
    } else {
      kwargs[key] = value;
    }
  }
  inputs.extra_kwargs = kwargs;
  inputs.now = FixedClock();
  return (*tmpl)->Render(inputs);
}

TEST(InterpreterTest, MatchesPythonJinjaOnEverySemanticsCase) {
  std::ifstream in(std::string(LORAPLEX_TEST_DATA_DIR) +
                   "/chat_template/semantics_cases.json");
  std::stringstream text;
  text << in.rdbuf();
  const Json cases = Json::parse(text.str());
  ASSERT_GE(cases.size(), 70u);
  for (const Json& c : cases) {
    const std::string source = c["template"].get<std::string>();
    SCOPED_TRACE(source);
    absl::StatusOr<std::string> out = RenderWith(source, c["vars"]);
    if (c.contains("error")) {
      EXPECT_FALSE(out.ok()) << *out;
      if (!out.ok()) {
        EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
      }
      if (c.contains("message")) {
        EXPECT_EQ(out.status().message(), c["message"].get<std::string>());
      }
    } else {
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(*out, c["expected"].get<std::string>());
    }
  }
}

TEST(InterpreterTest, RuntimeErrorsNameTheirLine) {
  absl::StatusOr<std::string> out = RenderWith("ok\n\n{{ 1 + 'a' }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("line 3:"));
  EXPECT_THAT(out.status().message(), HasSubstr("unsupported operand"));
}

TEST(InterpreterTest, SandboxRefusesMutationLikeJinja) {
  absl::StatusOr<std::string> out =
      RenderWith("{{ xs.append(1) }}", {{"xs", {1}}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(
      out.status().message(),
      HasSubstr("access to attribute 'append' of 'list' object is unsafe."));
  // Naming the method without calling it prints nothing, as in Jinja.
  EXPECT_EQ(*RenderWith("[{{ xs.append }}]", {{"xs", {1}}}), "[]");
}

struct UnsupportedCase {
  std::string source;
  std::string message;
};

TEST(InterpreterTest, UnsupportedConstructsFailAtParseWithTheirLine) {
  const std::vector<UnsupportedCase> cases = {
      {"a\n{{ x|xmlattr }}", "line 2: filter 'xmlattr' is not supported"},
      {"\n\n{% if x is escaped_html %}{% endif %}",
       "line 3: test 'escaped_html' is not supported"},
      {"{% include 'other.jinja' %}", "line 1: tag 'include' is not supported"},
      {"x\n{% call foo() %}{% endcall %}",
       "line 2: tag 'call' is not supported"},
      {"{% do xs.append(1) %}", "line 1: tag 'do' is not supported"},
      {"{% for x in xs recursive %}{% endfor %}",
       "line 1: recursive loops are not supported"},
      {"{{ cycler('a', 'b') }}",
       "line 1: global function 'cycler' is not supported"},
      {"{{ f(*args) }}",
       "line 1: *args and **kwargs in calls are not supported"},
      {"{% frobnicate %}", "line 1: unknown tag 'frobnicate'"},
      {"{% break %}", "line 1: 'break' outside of a loop"},
      {"{{ 0x1F }}",
       "line 1: hex, octal and binary literals are not supported"},
  };
  for (const UnsupportedCase& c : cases) {
    auto tmpl = ChatTemplate::Parse(c.source, std::nullopt, std::nullopt);
    ASSERT_FALSE(tmpl.ok()) << c.source;
    EXPECT_EQ(tmpl.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tmpl.status().message(), c.message) << c.source;
  }
}

TEST(InterpreterTest, SyntaxErrorsNameTheirLine) {
  for (const std::string& source :
       {std::string("a\nb\n{% if x %}never closed"), std::string("\n{{ (1 }}"),
        std::string("\n{{ 'unterminated }}"),
        std::string("\n{# open comment")}) {
    auto tmpl = ChatTemplate::Parse(source, std::nullopt, std::nullopt);
    ASSERT_FALSE(tmpl.ok()) << source;
    EXPECT_THAT(tmpl.status().message(), HasSubstr("line ")) << source;
  }
}

TEST(InterpreterTest, DeepNestingIsRefusedNotACrash) {
  const std::string source =
      "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  auto tmpl = ChatTemplate::Parse(source, std::nullopt, std::nullopt);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_THAT(tmpl.status().message(), HasSubstr("nesting deeper than"));
  std::string blocks;
  for (int i = 0; i < 500; ++i) blocks += "{% if true %}";
  EXPECT_FALSE(ChatTemplate::Parse(blocks, std::nullopt, std::nullopt).ok());
}

TEST(InterpreterTest, LimitsStopRunawayTemplates) {
  RenderLimits limits;
  limits.max_output_bytes = 1000;
  limits.max_loop_iterations = 500;
  // A string multiplied by a client-controlled number.
  auto out = RenderWith("{{ 'x' * n }}", {{"n", 1000000000}}, limits);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("string longer than 1000 bytes"));
  // Output growing in a loop.
  out = RenderWith("{% for i in range(200) %}abcdefgh{% endfor %}", {}, limits);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("output longer than 1000 bytes"));
  // Iterations over all loops together.
  out = RenderWith(
      "{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor "
      "%}",
      {}, limits);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("loop iterations"));
  // A namespace list doubled in a loop.
  out = RenderWith(
      "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
      "{% set ns.l = ns.l + ns.l %}{% endfor %}",
      {}, limits);
  ASSERT_FALSE(out.ok());
  // Unbounded macro recursion.
  out = RenderWith("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("macro calls nested deeper"));
  // A namespace that contains itself still prints.
  EXPECT_TRUE(
      RenderWith("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}")
          .ok());
}

TEST(InterpreterTest, BosAndEosAreUndefinedWhenNull) {
  auto tmpl = ChatTemplate::Parse(
      "{{ bos_token is defined }}{{ eos_token }}|{{ bos_token }}", std::nullopt,
      std::string("</s>"));
  ASSERT_TRUE(tmpl.ok());
  ChatTemplateInputs inputs;
  inputs.messages = Json::array();
  EXPECT_EQ(*(*tmpl)->Render(inputs), "False</s>|");
  // Extra kwargs override the special tokens, as in transformers.
  inputs.extra_kwargs = {{"eos_token", "<eos>"}, {"bos_token", "<s>"}};
  EXPECT_EQ(*(*tmpl)->Render(inputs), "True<eos>|<s>");
  inputs.extra_kwargs = {{"messages", 1}};
  EXPECT_FALSE((*tmpl)->Render(inputs).ok());
}

TEST(InterpreterTest, ToolsAreNoneWhenAbsent) {
  auto out =
      RenderWith("{{ tools is defined }} {{ tools is none }} {{ tools }}");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "True True None");
}

TEST(InterpreterTest, RendersConcurrentlyFromOneTemplate) {
  auto tmpl = ChatTemplate::Parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n "
      "+ 1 %}"
      "{{ m.content }}{% endfor %}{{ ns.n }}",
      std::nullopt, std::nullopt);
  ASSERT_TRUE(tmpl.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ChatTemplateInputs inputs;
      inputs.messages = Json::array();
      for (int i = 0; i <= t; ++i)
        inputs.messages.push_back({{"content", "x"}});
      for (int k = 0; k < 200; ++k) results[t] = *(*tmpl)->Render(inputs);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(results[t], std::string(static_cast<size_t>(t + 1), 'x') +
                              std::to_string(t + 1));
  }
}

}  // namespace
}  // namespace loraplex::chat
