#include "traffic/kube_services/service_router.h"

#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "platform/kubernetes/kube_objects.h"

namespace ramp::kube_services {
namespace {

namespace kube_objects = ramp::platform::kube_objects;

using json = nlohmann::json;

class ServiceRouter : public TrafficRouter {
 public:
  ServiceRouter(kube::KubeClient* client, RouterContext context)
      : client_(client), c_(std::move(context)) {}

  std::string_view Type() const override { return kServiceRouterName; }

  void SetWeight(int32_t, const std::vector<WeightDestination>&, StatusCallback done) override {
    done(Unsupported("traffic weights"));
  }
  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override {
    done(Unsupported("header routes"));
  }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(Unsupported("mirror routes"));
  }
  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }

  void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) override {
    std::string service;
    switch (role) {
      case ServiceRole::kStable:
        service = c_.stable_service;
        break;
      case ServiceRole::kCanary:
        service = c_.canary_service;
        break;
      case ServiceRole::kActive:
        service = c_.active_service;
        break;
      case ServiceRole::kPreview:
        service = c_.preview_service;
        break;
    }
    if (service.empty()) return done(OkStatus());  // the strategy names no Service for the role
    const std::string ns = c_.rollout.namespace_;
    const std::string rollout = c_.rollout.name;
    const std::string want(hash);
    client_->Get(
        kube::Services(), ns, service,
        [this, role, ns, service, rollout, want, done = std::move(done)](StatusOr<json> svc) {
          if (!svc) {
            if (svc.error().code() == StatusCode::kNotFound) {
              return done(FailedPreconditionError(
                  fmt::format("kubernetes: the {} Service {}/{} does not exist",
                              ServiceRoleName(role), ns, service)));
            }
            return done(svc.error());
          }
          const auto manager = kube_objects::ServiceManagedBy(*svc);
          if (manager && !manager->empty() && *manager != rollout) {
            return done(FailedPreconditionError(
                fmt::format("kubernetes: Service {}/{} is managed by rollout {}, not {}", ns,
                            service, *manager, rollout)));
          }
          // An empty hash would un-point the Service and send its traffic to every revision's
          // pods: a Service keeps its last revision instead.
          if (want.empty()) return done(OkStatus());
          json patch = kube_objects::ServiceSelectorPatchFor(*svc, rollout, want);
          if (patch.empty()) return done(OkStatus());
          client_->Patch(
              kube::Services(), ns, service, kube::PatchType::kMerge, patch, "",
              [done = std::move(done)](StatusOr<json> r) { done(r ? OkStatus() : r.error()); });
        });
  }

  void SetRevisionEndpoints(std::string_view, const std::vector<std::string>&,
                            StatusCallback done) override {
    done(OkStatus());
  }

  void VerifyWeight(int32_t, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    done(WeightCheck{WeightVerification::kNotSupported, std::nullopt, ""});
  }

 private:
  Status Unsupported(std::string_view what) const {
    return UnimplementedError(fmt::format(
        "{}: {} need a traffic router (spec.strategy.canary.trafficRouting); without one a "
        "canary's weight is its share of the replicas",
        kServiceRouterName, what));
  }

  kube::KubeClient* client_;
  RouterContext c_;
};

}  // namespace

StatusOr<std::unique_ptr<TrafficRouter>> NewServiceRouter(kube::KubeClient* client,
                                                          const RouterContext& context) {
  if (client == nullptr) {
    return Fail(InvalidArgumentError("kubernetes/services: no Kubernetes client"));
  }
  return std::unique_ptr<TrafficRouter>(std::make_unique<ServiceRouter>(client, context));
}

}  // namespace ramp::kube_services
