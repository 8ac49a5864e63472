#include "daemon/event_tap.h"

#include <string>
#include <utility>
#include <vector>

namespace ramp::daemon {
namespace {

class EventTapStore : public StateStore {
 public:
  EventTapStore(StateStore* inner, std::function<void(const StoredEvent&)> on_event)
      : inner_(inner), on_event_(std::move(on_event)) {}

  std::string_view Type() const override { return inner_->Type(); }
  void Get(std::string_view kind, const ObjectRef& ref,
           StatusOrCallback<StoredObject> done) override {
    inner_->Get(kind, ref, std::move(done));
  }
  void List(std::string_view kind, std::string_view namespace_,
            StatusOrCallback<std::vector<StoredObject>> done) override {
    inner_->List(kind, namespace_, std::move(done));
  }
  void Put(const StoredObject& object, int64_t expected_version,
           StatusOrCallback<int64_t> done) override {
    inner_->Put(object, expected_version, std::move(done));
  }
  void PutStatus(std::string_view kind, const ObjectRef& ref, std::string status_json,
                 int64_t expected_version, StatusOrCallback<int64_t> done) override {
    inner_->PutStatus(kind, ref, std::move(status_json), expected_version, std::move(done));
  }
  void Delete(std::string_view kind, const ObjectRef& ref, int64_t expected_version,
              StatusCallback done) override {
    inner_->Delete(kind, ref, expected_version, std::move(done));
  }
  void AppendEvent(const StoredEvent& event, StatusCallback done) override {
    if (on_event_) on_event_(event);
    inner_->AppendEvent(event, std::move(done));
  }
  void ListEvents(std::string_view kind, const ObjectRef& ref, size_t limit,
                  StatusOrCallback<std::vector<StoredEvent>> done) override {
    inner_->ListEvents(kind, ref, limit, std::move(done));
  }
  StatusOr<std::unique_ptr<Subscription>> Watch(
      std::string_view kind, std::function<void(const StoreChange&)> on_change) override {
    return inner_->Watch(kind, std::move(on_change));
  }

 private:
  StateStore* inner_;
  std::function<void(const StoredEvent&)> on_event_;
};

}  // namespace

std::unique_ptr<StateStore> NewEventTapStore(StateStore* inner,
                                             std::function<void(const StoredEvent&)> on_event) {
  return std::make_unique<EventTapStore>(inner, std::move(on_event));
}

}  // namespace ramp::daemon
