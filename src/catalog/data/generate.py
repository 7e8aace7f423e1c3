#!/usr/bin/env python3
"""Regenerate karpdeck's embedded instance catalog.

Inputs (facts, re-expressed in karpdeck's own TSV format):
  --moto-resources DIR   the `moto/ec2/resources` folder of the `moto` PyPI package, whose
                         instance_types.json.gz is a DescribeInstanceTypes dump and whose
                         instance_type_offerings/availability-zone/<region>.json.gz list the
                         zones offering each type.
  --regions R,R,...      regions to emit offerings for.

Price inputs (in sources/, karpdeck's TSV of published figures; see README.md here):
  on-demand-published.tsv  published on-demand Linux prices by (type, region)
  spot-advisor.tsv         Spot Instance Advisor savings and interruption buckets by (region, type)

Outputs (next to this script): instance-types.tsv, offerings.tsv and prices.tsv. Every price row
says whether it is published or estimated.
"""
import argparse
import gzip
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

COLUMNS = [
    "name", "arch", "vcpus", "memory_mib", "hypervisor", "bare_metal", "burstable",
    "cpu_manufacturer", "enis", "ipv4_per_eni", "gpu_count", "gpu_name", "gpu_manufacturer",
    "gpu_memory_mib", "accel_count", "accel_name", "accel_manufacturer", "local_nvme_gb",
    "network_mbps", "ebs_mbps", "encryption_in_transit",
]


def arch_of(t):
    archs = t["ProcessorInfo"]["SupportedArchitectures"]
    if "arm64" in archs:
        return "arm64"
    if "x86_64" in archs:
        return "amd64"
    return None  # mac and anything Karpenter cannot run


def row(t):
    arch = arch_of(t)
    if arch is None or "hvm" not in t.get("SupportedVirtualizationTypes", []):
        return None
    net = t["NetworkInfo"]
    gpus = (t.get("GpuInfo") or {}).get("Gpus") or []
    gpu = gpus[0] if gpus else {}
    accel_count, accel_name, accel_mfr = 0, "", ""
    neuron = (t.get("NeuronInfo") or {}).get("NeuronDevices") or []
    inf1 = (t.get("InferenceAcceleratorInfo") or {}).get("Accelerators") or []
    if neuron:
        accel_count = sum(d["Count"] for d in neuron)
        accel_name = neuron[0]["Name"].lower()
        accel_mfr = "aws"
    elif inf1:
        accel_count = sum(d["Count"] for d in inf1)
        accel_name = inf1[0]["Name"].lower()
        accel_mfr = inf1[0].get("Manufacturer", "aws").lower()
    storage = t.get("InstanceStorageInfo") or {}
    nvme = storage.get("TotalSizeInGB", 0) if storage.get("NvmeSupport") in ("required", "supported") else 0
    cards = net.get("NetworkCards") or []
    baseline = cards[0].get("BaselineBandwidthInGbps") if cards else None
    ebs = ((t.get("EbsInfo") or {}).get("EbsOptimizedInfo") or {}).get("MaximumBandwidthInMbps", 0)
    values = [
        t["InstanceType"], arch, t["VCpuInfo"]["DefaultVCpus"], t["MemoryInfo"]["SizeInMiB"],
        t.get("Hypervisor", ""), int(t["BareMetal"]), int(t["BurstablePerformanceSupported"]),
        t["ProcessorInfo"].get("Manufacturer", "").lower(),
        net["MaximumNetworkInterfaces"], net["Ipv4AddressesPerInterface"],
        sum(g["Count"] for g in gpus), gpu.get("Name", "").lower(), gpu.get("Manufacturer", "").lower(),
        (gpu.get("MemoryInfo") or {}).get("SizeInMiB", 0),
        accel_count, accel_name, accel_mfr, nvme,
        int(round(baseline * 1000)) if baseline else 0, ebs,
        int(bool(net.get("EncryptionInTransitSupported"))),
    ]
    return "\t".join(str(v) for v in values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moto-resources", required=True)
    ap.add_argument("--regions", required=True)
    args = ap.parse_args()
    types = json.load(gzip.open(os.path.join(args.moto_resources, "instance_types.json.gz")))
    rows = sorted(filter(None, (row(t) for t in types.values())))
    names = {r.split("\t", 1)[0] for r in rows}
    with open(os.path.join(HERE, "instance-types.tsv"), "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(HERE, "offerings.tsv"), "w") as f:
        f.write("region\tinstance_type\tzones\n")
        for region in args.regions.split(","):
            path = os.path.join(args.moto_resources, "instance_type_offerings", "availability-zone",
                                region + ".json.gz")
            zones = {}
            for o in json.load(gzip.open(path)):
                suffix = o["Location"][len(region):]
                # Standard zones only: local and wavelength zones have longer suffixes.
                if o["InstanceType"] in names and re.fullmatch("[a-z]", suffix):
                    zones.setdefault(o["InstanceType"], set()).add(o["Location"][len(region):])
            for name in sorted(zones):
                f.write(f"{region}\t{name}\t{''.join(sorted(zones[name]))}\n")
    print(f"{len(rows)} instance types", file=sys.stderr)
    write_prices([r.split("\t") for r in rows])


# Regional on-demand ratio to us-east-1 by instance category, read off published prices of the
# m5/m6i/m7i, c6i/c6g/c7g, r5/r6i/r7i and t3/t4g families; used only where no published figure exists.
REGION_RATIO = {
    "us-east-1": {},
    "us-west-2": {},
    "eu-west-1": {"m": 1.115, "c": 1.073, "r": 1.12, "x": 1.12, "z": 1.12, "u": 1.12, "t": 1.096, "*": 1.10},
    "ap-southeast-1": {"m": 1.25, "c": 1.153, "r": 1.206, "x": 1.206, "z": 1.206, "u": 1.206, "t": 1.27, "*": 1.22},
}


def category(name):
    family = name.split(".")[0]
    return re.match("[a-z]*", family).group(0)


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


def write_prices(type_rows):
    vcpus = {r[0]: int(r[2]) for r in type_rows}
    offered = {}
    with open(os.path.join(HERE, "offerings.tsv")) as f:
        next(f)
        for line in f:
            region, name, _ = line.rstrip("\n").split("\t")
            offered.setdefault(region, set()).add(name)
    published = {}
    with open(os.path.join(HERE, "sources", "on-demand-published.tsv")) as f:
        next(f)
        for line in f:
            name, region, usd, _ = line.rstrip("\n").split("\t")
            published[(region, name)] = float(usd)
    advisor = {}
    with open(os.path.join(HERE, "sources", "spot-advisor.tsv")) as f:
        next(f)
        for line in f:
            region, name, savings, index = line.rstrip("\n").split("\t")
            advisor[(region, name)] = (int(savings), int(index))
    # Per-family price per vCPU in us-east-1, for types the price list does not carry.
    per_vcpu = {}
    for (region, name), usd in published.items():
        if region == "us-east-1" and name in vcpus:
            per_vcpu.setdefault(name.split(".")[0], []).append(usd / vcpus[name])
    out = ["region\tinstance_type\ton_demand_usd\ton_demand_basis\tspot_savings_pct\tinterruption\tspot_basis"]
    for region in REGION_RATIO:
        savings_by_category = {}
        for (r, name), (s, _) in advisor.items():
            if r == region and s > 0:
                savings_by_category.setdefault(category(name), []).append(s)
        all_savings = [s for v in savings_by_category.values() for s in v]
        for name in sorted(offered.get(region, ())):
            if (region, name) in published:
                od, od_basis = published[(region, name)], "published"
            else:
                base = published.get(("us-east-1", name))
                if base is None:
                    family_rates = per_vcpu.get(name.split(".")[0])
                    if not family_rates:
                        continue  # no honest basis for a price: the type stays unpriced here
                    base = median(family_rates) * vcpus[name]
                ratios = REGION_RATIO[region]
                od = base * ratios.get(category(name), ratios.get("*", 1.0))
                od_basis = "estimated"
            savings, index = advisor.get((region, name), (0, None))
            if savings > 0:
                spot_basis = "published"
            else:
                savings = median(savings_by_category.get(category(name), [])) or median(all_savings)
                spot_basis = "estimated"
            out.append("\t".join([region, name, f"{od:.4f}".rstrip("0").rstrip("."), od_basis, str(savings),
                                   "" if index is None else str(index), spot_basis]))
    with open(os.path.join(HERE, "prices.tsv"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{len(out) - 1} prices", file=sys.stderr)


if __name__ == "__main__":
    main()
