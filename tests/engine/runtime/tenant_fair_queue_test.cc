#include "engine/runtime/tenant_fair_queue.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loraplex::engine {
namespace {

std::vector<std::string> DrainAll(TenantFairQueue<std::string>& q,
                                  size_t limit = 1000) {
  std::vector<std::string> taken;
  q.Drain(
      [&](std::string& item) {
        taken.push_back(item);
        return true;
      },
      [&] { return taken.size() < limit; });
  return taken;
}

TEST(TenantFairQueueTest, AlternatesBetweenTenants) {
  TenantFairQueue<std::string> q;
  for (int i = 0; i < 4; ++i) q.Push("a", "a" + std::to_string(i));
  q.Push("b", "b0");
  q.Push("c", "c0");
  EXPECT_EQ(DrainAll(q), (std::vector<std::string>{"a0", "b0", "c0", "a1", "a2", "a3"}));
  EXPECT_TRUE(q.empty());
}

TEST(TenantFairQueueTest, ResumesAfterTheTenantServedLast) {
  TenantFairQueue<std::string> q;
  q.Push("a", "a0");
  q.Push("a", "a1");
  q.Push("b", "b0");
  q.Push("b", "b1");
  EXPECT_EQ(DrainAll(q, 1), std::vector<std::string>{"a0"});
  EXPECT_EQ(DrainAll(q, 1), std::vector<std::string>{"b0"});
  EXPECT_EQ(DrainAll(q, 1), std::vector<std::string>{"a1"});
  EXPECT_EQ(q.size(), 1u);
}

TEST(TenantFairQueueTest, SkipsItemsThatCannotBeTakenYet) {
  TenantFairQueue<std::string> q;
  q.Push("a", "a-blocked");
  q.Push("a", "a-ready");
  q.Push("b", "b-blocked");
  std::vector<std::string> taken;
  q.Drain(
      [&](std::string& item) {
        if (item.find("blocked") != std::string::npos) return false;
        taken.push_back(item);
        return true;
      },
      [] { return true; });
  EXPECT_EQ(taken, std::vector<std::string>{"a-ready"});
  EXPECT_EQ(q.size(), 2u);
}

TEST(TenantFairQueueTest, RemoveIfHandsItemsToTheSink) {
  TenantFairQueue<std::string> q;
  q.Push("a", "a0");
  q.Push("b", "b0");
  q.Push("b", "b1");
  std::vector<std::string> removed;
  q.RemoveIf([](const std::string& s) { return s[0] == 'b'; },
             [&](std::string& s) { removed.push_back(s); });
  EXPECT_EQ(removed, (std::vector<std::string>{"b0", "b1"}));
  EXPECT_EQ(DrainAll(q), std::vector<std::string>{"a0"});
}

}  // namespace
}  // namespace loraplex::engine
