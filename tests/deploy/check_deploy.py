#!/usr/bin/env python3
# Copyright 2026 Azimuth authors.
"""Checks deploy/ without a cluster or a Docker engine.

- Renders every kustomization (deploy/k8s/service/overlays/*, deploy/k8s/sidecar)
  the way kustomize does for the features they use (resources, components,
  labels, images, JSON 6902 patches) and validates each object against the Kubernetes API
  schemas (kubernetes-validate, offline, strict). CRDs (ServiceMonitor) are
  checked against the fields the Prometheus Operator requires.
- Checks the house rules on every pod: non-root, read-only root filesystem,
  all capabilities dropped, no privilege escalation, requests and limits,
  gRPC probes on azimuthd, conventional port names, the native sidecar.
- Validates every azimuthd config in a ConfigMap with `azimuthd --check_config`.
- Lints the Dockerfiles with hadolint.
- Checks that `deploy/install-deps.sh --runtime` provides every shared
  library azimuthd links (the images' runtime stage).

Usage: check_deploy.py --repo DIR --azimuthd PATH
Exits non-zero with one line per problem.
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonpatch
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"  # native sidecars are GA from 1.33
CRD_REQUIRED = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): [("spec", "selector"), ("spec", "endpoints")],
}

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


def load_yaml(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def render(directory):
    """The objects of a kustomization, with its transformations applied."""
    kfile = os.path.join(directory, "kustomization.yaml")
    (k,) = load_yaml(kfile)
    objects = []
    for res in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, res))
        objects += render(path) if os.path.isdir(path) else load_yaml(path)
    for component in k.get("components", []):
        path = os.path.normpath(os.path.join(directory, component))
        (c,) = load_yaml(os.path.join(path, "kustomization.yaml"))
        if c.get("kind") != "Component" or c.get("apiVersion") != "kustomize.config.k8s.io/v1alpha1":
            problem(path, "a component must be kind Component, apiVersion kustomize.config.k8s.io/v1alpha1")
        objects += render(path)
    objects = copy.deepcopy(objects)
    for entry in k.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            if entry.get("includeSelectors"):
                problem(kfile, "includeSelectors is not supported by this checker")
    for image in k.get("images", []):
        for obj in objects:
            for c in containers(obj):
                name = c.get("image", "").rsplit(":", 1)[0]
                if name == image["name"]:
                    c["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    for p in k.get("patches", []):
        target = p["target"]
        ops = yaml.safe_load(p["patch"])
        matched = [o for o in objects if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]]
        if len(matched) != 1:
            problem(kfile, f"patch target {target} matches {len(matched)} objects")
            continue
        try:
            patched = jsonpatch.apply_patch(matched[0], ops)
        except jsonpatch.JsonPatchException as e:
            problem(kfile, f"patch does not apply: {e}")
            continue
        objects[objects.index(matched[0])] = patched
    for key in k:
        if key not in ("apiVersion", "kind", "resources", "components", "labels", "images", "patches"):
            problem(kfile, f"'{key}' is not supported by this checker")
    return objects


def pod_spec(obj):
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return obj["spec"] if obj["kind"] == "Pod" else None


def containers(obj):
    spec = pod_spec(obj)
    if not spec:
        return []
    return spec.get("initContainers", []) + spec.get("containers", [])


def check_pod(where, obj):
    spec = pod_spec(obj)
    if spec is None:
        return
    pod_sc = spec.get("securityContext", {})
    if not pod_sc.get("runAsNonRoot"):
        problem(where, "pod securityContext.runAsNonRoot must be true")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(where, "pod seccompProfile must be RuntimeDefault")
    for c in containers(obj):
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(cw, "allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(cw, "readOnlyRootFilesystem must be true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problem(cw, "capabilities must drop ALL")
        if sc.get("privileged"):
            problem(cw, "must not be privileged")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    problem(cw, f"resources.{kind}.{r} missing")
        for port in c.get("ports", []):
            if not re.fullmatch(r"(grpc|http|tcp)(-[a-z0-9]+)*", port.get("name", "")):
                problem(cw, f"port {port.get('containerPort')} should be named grpc*, http* or tcp* "
                            f"(got {port.get('name')})")
        if "azimuthd" in c.get("image", ""):
            for probe in ("livenessProbe", "readinessProbe"):
                if "grpc" not in c.get(probe, {}):
                    problem(cw, f"{probe} must be a gRPC probe")
    for c in spec.get("initContainers", []):
        if "azimuthd" in c.get("image", "") and c.get("restartPolicy") != "Always":
            problem(f"{where} initContainer {c['name']}", "a native sidecar needs restartPolicy: Always")


def check_config(where, obj, azimuthd):
    for key, text in obj.get("data", {}).items():
        if not key.endswith(".json"):
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        try:
            out = subprocess.run([azimuthd, f"--config={f.name}", "--check_config"], capture_output=True, text=True)
            if out.returncode != 0:
                problem(f"{where} data.{key}", out.stderr.strip())
        finally:
            os.unlink(f.name)


def check_kustomization(directory, azimuthd):
    objects = render(directory)
    for obj in objects:
        where = f"{os.path.relpath(directory)}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in CRD_REQUIRED:
            for path in CRD_REQUIRED[key]:
                node = obj
                for part in path:
                    node = node.get(part) if isinstance(node, dict) else None
                if not node:
                    problem(where, f"{'.'.join(path)} is required")
        else:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                problem(where, f"schema: {e.message} at {'/'.join(str(p) for p in e.path)}")
        check_pod(where, obj)
        if obj["kind"] == "ConfigMap":
            check_config(where, obj, azimuthd)
    return objects


def check_service(directory, objects):
    kinds = {o["kind"] for o in objects}
    for want in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"):
        if want not in kinds:
            problem(directory, f"no {want}")
    if not any(o["kind"] == "Service" and o["metadata"]["name"] == "azimuth" for o in objects):
        problem(directory, "no Service named azimuth")
    for o in objects:
        if o["kind"] == "Service" and o["metadata"]["name"] == "azimuth":
            names = {p["name"] for p in o["spec"]["ports"]}
            if not {"grpc", "http-metrics"} <= names:
                problem(directory, f"Service ports must include grpc and http-metrics, got {sorted(names)}")


def check_cluster(directory, objects):
    """The replicas share Redis: config, pod identity, the Redis objects, the network path."""
    (dep,) = [o for o in objects if o["kind"] == "Deployment"]
    (config,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "azimuth-config"]
    cluster = json.loads(config["data"]["config.json"]).get("cluster", {})
    if not cluster.get("redis_address"):
        problem(directory, "config.json: the replicas need cluster.redis_address")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container.get("env", [])}
    if env.get("POD_NAME") != "metadata.name" or env.get("POD_IP") != "status.podIP":
        problem(directory, "azimuthd needs POD_NAME and POD_IP from the downward API (replica id, Explain forwarding)")
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    password = cluster.get("password_file", "")
    if password and os.path.dirname(password) not in mounts:
        problem(directory, f"cluster.password_file {password} is not on a mounted volume")
    redis = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "azimuth-redis"]
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    host = cluster.get("redis_address", "").rsplit(":", 1)[0]
    if redis:
        args = redis[0]["spec"]["template"]["spec"]["containers"][0].get("args", [])
        if "noeviction" not in args:
            problem(directory, "the in-cluster Redis must run with maxmemory-policy noeviction")
        if host not in services:
            problem(directory, f"cluster.redis_address names {host}, which is no Service here")
    egress_ports = set()
    for o in objects:
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "azimuth":
            for rule in o["spec"].get("egress", []):
                egress_ports |= {p.get("port") for p in rule.get("ports", [])}
    port = int(cluster.get("redis_address", ":0").rsplit(":", 1)[1])
    if port not in egress_ports:
        problem(directory, f"the NetworkPolicy does not let azimuthd reach Redis on port {port}")


def check_gpu(directory, objects):
    (dep,) = [o for o in objects if o["kind"] == "Deployment"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    if c["resources"]["limits"].get("nvidia.com/gpu") != "1":
        problem(directory, "the gpu overlay must request nvidia.com/gpu")
    if not dep["spec"]["template"]["spec"].get("tolerations"):
        problem(directory, "the gpu overlay needs tolerations for GPU nodes")


def check_sidecar(directory, objects):
    (dep,) = [o for o in objects if o["kind"] == "Deployment"]
    spec = dep["spec"]["template"]["spec"]
    sidecars = [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]
    if len(sidecars) != 1:
        problem(directory, "expected azimuthd as one native sidecar")
        return
    socket_volumes = {m["name"] for m in sidecars[0]["volumeMounts"] if m["mountPath"] == "/var/run/azimuth"}
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    shared = socket_volumes & empty_dirs
    if not shared:
        problem(directory, "the socket directory must be an emptyDir")
    for c in spec["containers"]:
        if not any(m["name"] in shared for m in c.get("volumeMounts", [])):
            problem(directory, f"container {c['name']} does not mount the socket directory")


def check_dockerfiles(repo, hadolint):
    for name in ("Dockerfile.cpu", "Dockerfile.gpu"):
        path = os.path.join(repo, "deploy", "docker", name)
        out = subprocess.run([hadolint, "--no-color", path], capture_output=True, text=True)
        if out.returncode != 0:
            problem(path, "hadolint:\n" + out.stdout + out.stderr)
        text = open(path).read()
        if "install-deps.sh" not in text:
            problem(path, "must install with deploy/install-deps.sh")
        for want in ("USER 10001", "HEALTHCHECK", 'ENTRYPOINT ["azimuthd"]'):
            if want not in text:
                problem(path, f"missing {want}")


def check_runtime_packages(repo, azimuthd):
    text = open(os.path.join(repo, "deploy", "install-deps.sh")).read()
    runtime = re.search(r"^runtime=\(([^)]*)\)", text, re.M).group(1).split()
    # The dependency closure, from the installed packages' own metadata
    # (dpkg-query works without apt lists).
    closure, queue = set(), list(runtime)
    while queue:
        package = queue.pop()
        if package in closure:
            continue
        closure.add(package)
        out = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", package],
                             capture_output=True, text=True)
        if out.returncode != 0:
            problem("deploy/install-deps.sh", f"runtime package {package} is not installed here")
            continue
        for alternative in out.stdout.replace("|", ",").split(","):
            name = alternative.strip().split(" ")[0].split(":")[0]
            if name:
                queue.append(name)
    ldd = subprocess.run(["ldd", azimuthd], capture_output=True, text=True).stdout
    for lib in re.findall(r"=> (/\S+)", ldd):
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        if owner.returncode != 0:
            problem("deploy/install-deps.sh", f"{lib} (linked by azimuthd) belongs to no Debian package")
            continue
        package = owner.stdout.split(":")[0]
        if package not in closure:
            problem("deploy/install-deps.sh", f"--runtime does not install {package} ({lib}, linked by azimuthd)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--azimuthd", required=True)
    parser.add_argument("--hadolint", default="hadolint")
    args = parser.parse_args()
    k8s = os.path.join(args.repo, "deploy", "k8s")
    for overlay in ("cpu", "gpu"):
        d = os.path.join(k8s, "service", "overlays", overlay)
        objects = check_kustomization(d, args.azimuthd)
        check_service(d, objects)
        check_cluster(d, objects)
        if overlay == "gpu":
            check_gpu(d, objects)
    d = os.path.join(k8s, "sidecar")
    check_sidecar(d, check_kustomization(d, args.azimuthd))
    check_dockerfiles(args.repo, args.hadolint)
    check_runtime_packages(args.repo, args.azimuthd)
    for p in problems:
        print(p)
    print(f"check_deploy: {len(problems)} problems" if problems else "check_deploy: manifests, configs, "
          "Dockerfiles and runtime packages OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
