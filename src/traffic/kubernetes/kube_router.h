// The parts every Kubernetes traffic router is built from: kube_traffic::Router (one mesh or
// ingress integration — istio, nginx, smi, alb, traefik, ambassador, apisix, gatewayAPI), the
// Env it is created with, and ObjectSync, the read-modify-write-verify loop each router uses to
// converge the objects it owns.
//
// A Rollout's trafficRouting may name several routers at once (Argo calls each in turn);
// kube_traffic_router.h combines them, with the Service selector switch, into the one
// ramp::TrafficRouter the engine drives. The routers here speak Argo's router interface
// (reference/argo-rollouts.md §6: UpdateHash, SetWeight, SetHeaderRoute, SetMirrorRoute,
// VerifyWeight, RemoveManagedRoutes).
//
// How a router is written:
//   * It keeps its desired state (weight, additional destinations, the header and mirror routes
//     it manages, the canary and stable hashes) and, on every call, converges each object it
//     owns to that whole state with ObjectSync::Converge. The mutation is a pure function of
//     the object as read, so a call repeated by the controller's periodic re-assertion puts back
//     whatever someone else changed (a weight edited by hand, a route deleted), and ObjectSync
//     reports it as an event.
//   * Every write is read back: a write the server did not keep (an admission webhook that
//     rewrote it, a concurrent edit) fails the call with kUnavailable, and the engine retries.
//   * Errors name the router, the object and what is wrong: kFailedPrecondition when an object
//     it needs is missing or is controlled by something else, kInvalidArgument for a
//     configuration it cannot honour, kUnimplemented for what the router cannot do (header
//     routes on SMI), kUnavailable for the API server.
//
// Thread-safety: a Router belongs to one Rollout and is called from that rollout's queue, one
// operation at a time, but callbacks arrive on the client's threads: state a callback touches is
// guarded by the router's own mutex. ObjectSync is safe to call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp::kube_traffic {

// The API versions of the routed kinds: the controller's --istio-api-version,
// --traffic-split-api-version, --ambassador-api-version, --traefik-api-group/-version,
// --ingress-api-version, with Argo Rollouts' defaults.
struct ApiVersions {
  std::string istio = "v1alpha3";                  // networking.istio.io/<v>
  std::string smi = "v1alpha1";                    // split.smi-spec.io/<v>
  std::string ambassador = "getambassador.io/v2";  // <group>/<version>
  std::string traefik_group = "traefik.io";
  std::string traefik_version = "v1alpha1";
  std::string ingress = "networking.k8s.io/v1";  // or extensions/v1beta1
  std::string apisix = "v2";                     // apisix.apache.org/<v>
  std::string gateway = "v1";                    // gateway.networking.k8s.io/<v>
};

// The Rollout a router works for: its controller owner reference (for objects the router
// creates: the nginx canary Ingress, the SMI TrafficSplit), read from the API server once.
class RolloutOwner : public std::enable_shared_from_this<RolloutOwner> {
 public:
  // Held by std::shared_ptr (OwnerReference keeps itself alive while it reads).
  RolloutOwner(kube::KubeClient* client, ObjectRef rollout);

  // {"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","name":…,"uid":…,"controller":true,
  //  "blockOwnerDeletion":true}.
  void OwnerReference(StatusOrCallback<nlohmann::json> done);
  // True when `object`'s controller owner reference names this Rollout (by uid once known, else
  // by kind and name).
  bool Controls(const nlohmann::json& object) const;
  // The Rollout's name of the controller of `object` ("" when it has none); for messages.
  static std::string ControllerOf(const nlohmann::json& object);

  const ObjectRef& rollout() const { return rollout_; }

 private:
  kube::KubeClient* client_;
  ObjectRef rollout_;
  mutable std::mutex mu_;
  std::string uid_;  // guarded by mu_
};

// What a router is created with.
struct Env {
  kube::KubeClient* client = nullptr;  // must outlive the router
  // The rollout, its stable and canary Services, maxTrafficWeight and managedRoutes.
  RouterContext context;
  // This router's own section of trafficRouting (trafficRouting.istio, .nginx, …, or the
  // plugin configuration trafficRouting.plugins["argoproj-labs/gatewayAPI"]).
  nlohmann::json config = nlohmann::json::object();
  ApiVersions versions;
  // For work a router does later (ambassador deletes its canary Mapping 5 s after weight 0).
  Timers* timers = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<RolloutOwner> owner;
  // Records a Warning event on the Rollout saying that an object the router owns was changed
  // outside ramp and has been set back (ObjectSync calls it). May be empty.
  std::function<void(std::string message)> changed_outside;
};

// One traffic router (Argo's TrafficRoutingReconciler).
class Router {
 public:
  virtual ~Router() = default;

  // Argo's name for it: "Istio", "Nginx", "SMI", "ALB", "Traefik", "Ambassador", "Apisix",
  // "GatewayAPI".
  virtual std::string_view Type() const = 0;

  // The revisions the canary and stable Services now select (Argo's UpdateHash; either may be
  // empty). Routers that route by Service name keep this default, which does nothing; istio
  // labels DestinationRule subsets.
  virtual void UpdateHash(std::string_view /*canary_hash*/, std::string_view /*stable_hash*/,
                          const std::vector<WeightDestination>& /*additional*/,
                          StatusCallback done) {
    done(OkStatus());
  }

  // `weight` (0..max weight) to the canary, each additional destination its weight, the rest
  // to stable.
  virtual void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                         StatusCallback done) = 0;

  // Creates, replaces or (no matches) removes a managed header / mirror route. kUnimplemented
  // when the router has none (the message says which routers do).
  virtual void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) = 0;
  virtual void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) = 0;

  // Removes every route this router added for the rollout's managedRoutes.
  virtual void RemoveManagedRoutes(StatusCallback done) = 0;

  // Reads the objects back and says whether they carry the weights (kNotSupported when the
  // router cannot tell).
  virtual void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                            StatusOrCallback<WeightCheck> done) = 0;
};

// A pure rewrite of an object into the desired one: changes `object` in place and answers
// whether anything changed (an error refuses the object: wrong shape, missing route, …). It is
// called on the object as read, on the copy this router last wrote, and on the object read back
// after the write, so it must depend on nothing but its argument and what it captured.
using Mutation = std::function<StatusOr<bool>(nlohmann::json& object)>;

// Converges objects to what a router wants: read, rewrite, write with the resourceVersion read
// (409: again), read back, check. Remembers the last object it wrote or found converged, per
// object, to tell a change someone else made from a new desired state.
class ObjectSync {
 public:
  // `router` prefixes messages ("istio"). Callbacks in flight keep what they need alive, so the
  // ObjectSync (and its router) may be destroyed before they run.
  ObjectSync(Env env, std::string router);

  // Converges an existing object. kFailedPrecondition when it does not exist ("istio:
  // VirtualService default/web does not exist"). When this ObjectSync converged the object
  // before, someone else changed it since, and `mutate` would not have changed the copy
  // written then, the change it now makes is a re-assertion: Env::changed_outside is told.
  void Converge(const kube::Resource& resource, std::string ns, std::string name, Mutation mutate,
                StatusCallback done);

  // As Converge, but creates the object when it is absent: `create` builds it (the Rollout as
  // controller owner is added to metadata.ownerReferences), then `mutate` is applied. An
  // existing object that another owner controls is refused (kFailedPrecondition), as Argo
  // refuses a canary Ingress or TrafficSplit it does not own.
  void Ensure(const kube::Resource& resource, std::string ns, std::string name,
              std::function<nlohmann::json()> create, Mutation mutate, StatusCallback done);

  // Creates `object` (apiVersion, kind, name and namespace filled in; `mutate` applied) without
  // an owner, as Argo creates an Ambassador canary Mapping, and reads it back; one that exists
  // already is converged instead. An object this ObjectSync wrote before, and did not delete
  // itself, was deleted by someone else: creating it again is reported like any set-back (as
  // with Ensure).
  void Create(const kube::Resource& resource, std::string ns, std::string name,
              nlohmann::json object, Mutation mutate, StatusCallback done);

  // Forgets what was written to an object the router deleted itself, so that creating it again
  // is not reported as a set-back.
  void Forget(const kube::Resource& resource, std::string_view ns, std::string_view name);

  // Deletes the object when it exists and this Rollout controls it; absent is success.
  void DeleteOwned(const kube::Resource& resource, std::string ns, std::string name,
                   StatusCallback done);

  // Reads an object (kFailedPrecondition when absent, as Converge).
  void Read(const kube::Resource& resource, std::string ns, std::string name,
            StatusOrCallback<nlohmann::json> done);

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

// Helpers for routers.

// Asynchronous steps, run one after another.
using AsyncStep = std::function<void(StatusCallback next)>;
using IndexedStep = std::function<void(size_t i, StatusCallback next)>;

// Runs `steps` in order; the first error stops them and is `done`'s answer.
void RunInOrder(std::shared_ptr<std::vector<AsyncStep>> steps, StatusCallback done);
// Runs step(0) … step(n − 1) in order; the first error stops them.
void RunIndexed(size_t n, IndexedStep step, StatusCallback done);
// Runs every step, also after failures (one object's error does not keep the others from
// converging); `done` gets OK, the one error, or every error in one message.
void RunEach(std::shared_ptr<std::vector<AsyncStep>> steps, StatusCallback done);

// config[key] as a string, "" when absent or null; kInvalidArgument "<router>.<key>: expected a
// string" otherwise.
StatusOr<std::string> ConfigString(const nlohmann::json& config, const char* key,
                                   std::string_view router);

// config[key] as a list of object names ([] when absent or null); kInvalidArgument
// "<router>.<key>: expected a list of <what> names" or "<router>.<key>[i]: expected a name (a
// non-empty string), got …" otherwise.
StatusOr<std::vector<std::string>> ConfigNames(const nlohmann::json& config, const char* key,
                                               std::string_view router, std::string_view what);

// The Ingress kind of --ingress-api-version: networking.k8s.io/v1 ("networking/v1" too), or
// extensions/v1beta1, whose backends are {serviceName, servicePort} (`legacy`).
struct IngressApi {
  kube::Resource resource;
  bool legacy = false;
};
StatusOr<IngressApi> IngressApiFor(std::string_view router, const std::string& version);

// The Kubernetes kind of a resource with `namespace/name`: "VirtualService default/web".
std::string Describe(const kube::Resource& resource, std::string_view ns, std::string_view name);

// The short name of a service host: "web.default.svc.cluster.local" → "web".
std::string_view ShortHost(std::string_view host);

// The stable weight: max_weight − weight − Σ additional (never below 0).
int32_t StableWeight(int32_t max_weight, int32_t weight,
                     const std::vector<WeightDestination>& additional);

// A resource description for a kind at a given API version ("networking.istio.io", "v1alpha3",
// "virtualservices", "VirtualService").
kube::Resource MakeResource(std::string group, std::string version, std::string plural,
                            std::string kind);

// Splits "group/version" ("v1" alone is the core group).
std::pair<std::string, std::string> SplitApiVersion(std::string_view api_version);

}  // namespace ramp::kube_traffic
