# hardening.nix -- the sandbox settings the NixOS service shares with
# systemd/comfyui-ipex.service (tests/nix checks that both say the same).
# What depends on options (GPU devices, W^X, IP filtering, memory limit) is set by
# the module itself, not here.
{
  NoNewPrivileges = true;
  CapabilityBoundingSet = "";
  AmbientCapabilities = "";
  ProtectSystem = "strict";
  ProtectHome = true;
  PrivateTmp = true;
  PrivateMounts = true;
  PrivateUsers = true;
  PrivateIPC = true;
  ProtectProc = "invisible";
  ProtectHostname = true;
  ProtectClock = true;
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectKernelLogs = true;
  ProtectControlGroups = true;
  RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  RemoveIPC = true;
  LockPersonality = true;
  KeyringMode = "private";
  SystemCallArchitectures = "native";
  SystemCallFilter = [ "@system-service" "~@privileged" ];
  SystemCallErrorNumber = "EPERM";
  UMask = "0077";
}
