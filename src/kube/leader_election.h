// LeaderElector: leader election among ramp replicas with a coordination.k8s.io/v1 Lease, with
// client-go's leaderelection semantics (what Argo Rollouts runs: lock
// "argo-rollouts-controller-lock", ramp's is "ramp-controller-lock"; 15 s lease, 10 s renew
// deadline, 2 s retry period; ReleaseOnCancel=false).
//
//   * The record is the Lease's spec: holderIdentity, leaseDurationSeconds, acquireTime,
//     renewTime (MicroTime, RFC 3339 with microseconds) and leaseTransitions, written exactly as
//     client-go's LeaderElectionRecordToLeaseSpec does.
//   * A candidate reads the Lease every retry period (jittered by up to jitter_factor × retry
//     period, as wait.JitterUntil). It creates the Lease when absent; it takes it over when the
//     holder is empty or the record has NOT CHANGED for leaseDurationSeconds as observed on the
//     candidate's own clock (client-go's observedTime — the remote renewTime is never compared
//     with the local clock, so clock skew between replicas does not matter).
//   * The leader renews (GET + conditional PUT; a 409 is an ordinary failed attempt) every retry
//     period. A renewal cycle that has not succeeded within renew_deadline of its start loses
//     leadership: on_stopped_leading runs and the elector stops for good (as client-go's Run
//     returns); a process that wants to campaign again starts a new elector with a new identity.
//   * The destructor stops campaigning/renewing, does not touch the Lease (ReleaseOnCancel=false:
//     a standby takes over once the lease expires) and does not run on_stopped_leading.
//     Release() hands over at once.
//
// Timing comes only from the given Clock and Timers, so tests drive it with a ManualClock.
//
// Thread-safety: IsLeader, Leader and Release may be called from any thread. The callbacks run on
// the KubeClient's HTTP thread or the timers' thread (for on_started_leading / on_stopped_leading,
// never two at once and never concurrently with `log`) and must not block; none runs after the
// destructor returns. The destructor waits for a running callback, so it must not be called from
// inside one. The KubeClient and Timers must outlive the elector's outstanding requests and timers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kube/kube_client.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp::kube {

struct LeaderElectionOptions {
  KubeClient* client = nullptr;  // required
  Timers* timers = nullptr;      // required
  const Clock* clock = nullptr;  // required
  std::string namespace_;        // where the Lease lives (the controller's namespace)
  std::string lock_name;         // see LeaderLockName
  std::string identity;          // unique per process; see NewLeaderIdentity
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  // Candidates wait retry_period × (1 + U[0, jitter_factor)) between attempts (client-go's
  // JitterFactor 1.2). The leader's renewals are not jittered.
  double jitter_factor = 1.2;
  std::function<void()> on_started_leading;   // optional
  std::function<void()> on_stopped_leading;   // optional; only after on_started_leading
  std::function<void(std::string_view)> log;  // optional: transitions, new leaders and errors
};

class LeaderElector {
 public:
  // Validates the options and makes the first attempt at once. kInvalidArgument for missing
  // dependencies or names, non-positive durations, lease_duration <= renew_deadline, or
  // renew_deadline <= jitter_factor × retry_period (client-go's checks).
  static StatusOr<std::unique_ptr<LeaderElector>> Start(LeaderElectionOptions options);

  // Stops without releasing the Lease (see the header comment).
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Whether this elector leads now (between on_started_leading and on_stopped_leading).
  bool IsLeader() const;
  // The holder identity last observed in the Lease ("" = none seen or released).
  std::string Leader() const;

  // Graceful handover: stops campaigning/renewing; when leading, runs on_stopped_leading and
  // writes the record client-go's release writes (holderIdentity "", leaseDurationSeconds 1,
  // acquireTime = renewTime = now, leaseTransitions kept) with the resourceVersion last seen, so
  // a standby takes over at its next attempt. `done` gets the write's Status (OK without a write
  // when not leading); it runs even if the elector is destroyed meanwhile.
  void Release(StatusCallback done);

 private:
  struct State;
  explicit LeaderElector(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// "ramp-controller-lock", or "ramp-controller-lock-<instance_id>" when instance_id is set.
std::string LeaderLockName(std::string_view instance_id);

// "<hostname>_<random UUID>" (Argo's identity); `hostname` "" = this machine's host name.
std::string NewLeaderIdentity(std::string_view hostname = {});

// RFC 3339 UTC with microseconds, as Kubernetes writes metav1.MicroTime:
// "2026-11-27T09:00:00.123456Z".
std::string KubeMicroTime(Time t);

}  // namespace ramp::kube
