// A waiting queue that serves tenants round-robin, FIFO within a tenant, so
// one tenant's burst cannot starve the others. Plain C++; owned by the
// engine loop thread (not thread-safe).
#ifndef LORAPLEX_ENGINE_RUNTIME_TENANT_FAIR_QUEUE_H_
#define LORAPLEX_ENGINE_RUNTIME_TENANT_FAIR_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <utility>

namespace loraplex::engine {

template <typename T>
class TenantFairQueue {
 public:
  void Push(const std::string& tenant, T item) {
    auto [it, inserted] = queues_.try_emplace(tenant);
    if (inserted) order_.push_back(tenant);
    it->second.push_back(std::move(item));
    ++size_;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Visits tenants round-robin, starting after the tenant served last. For
  // each tenant, `try_take(item)` is offered that tenant's items in FIFO
  // order until it accepts one (returns true); accepted items are removed.
  // One item per tenant per round; rounds repeat until a whole round takes
  // nothing or `want_more()` says stop.
  void Drain(const std::function<bool(T&)>& try_take,
             const std::function<bool()>& want_more) {
    bool took_any = true;
    while (took_any && size_ > 0 && want_more()) {
      took_any = false;
      const size_t tenants = order_.size();
      for (size_t n = 0; n < tenants && want_more() && !order_.empty(); ++n) {
        std::string tenant = order_.front();
        order_.pop_front();
        auto& items = queues_[tenant];
        for (auto it = items.begin(); it != items.end(); ++it) {
          if (try_take(*it)) {
            items.erase(it);
            --size_;
            took_any = true;
            break;
          }
        }
        if (items.empty()) {
          queues_.erase(tenant);
        } else {
          order_.push_back(tenant);
        }
      }
    }
  }

  // Whether `pred` holds for any queued item.
  bool AnyOf(const std::function<bool(const T&)>& pred) const {
    for (const auto& [tenant, items] : queues_) {
      for (const T& item : items) {
        if (pred(item)) return true;
      }
    }
    return false;
  }

  // Removes every item for which `pred` is true, passing it to `sink`.
  void RemoveIf(const std::function<bool(const T&)>& pred,
                const std::function<void(T&)>& sink) {
    for (auto q = queues_.begin(); q != queues_.end();) {
      auto& items = q->second;
      for (auto it = items.begin(); it != items.end();) {
        if (pred(*it)) {
          sink(*it);
          it = items.erase(it);
          --size_;
        } else {
          ++it;
        }
      }
      if (items.empty()) {
        order_.remove(q->first);
        q = queues_.erase(q);
      } else {
        ++q;
      }
    }
  }

 private:
  std::map<std::string, std::deque<T>> queues_;
  std::list<std::string> order_;  // Tenants with items, next to serve first.
  size_t size_ = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_TENANT_FAIR_QUEUE_H_
