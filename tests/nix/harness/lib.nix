# lib.nix -- just enough of nixpkgs' lib to evaluate nix/*-module.nix offline.
#
# No nixpkgs is reachable from CI, so the tests bring their own module system. It keeps
# the semantics the modules rely on, and fails the way the real one does where a module
# could be wrong:
#   - modules are functions of { config, lib, pkgs, ... } (or attrsets, or paths to
#     either); `config` is the fixpoint of all of them, so evaluation is lazy;
#   - mkIf/mkMerge are pushed down into attrsets, their conditions only read at the
#     leaves (an mkIf on config.x around a whole block works, as in NixOS);
#   - mkOverride priorities (mkDefault 1000, plain 100, mkForce 50) pick the definitions
#     that count; an option's default is used only when nothing else is left;
#   - declared options are type-checked and merged by type (lists concatenate, attrsOf
#     merges per name, submodules evaluate their own options, scalars must agree);
#     defining an undeclared name inside a declared namespace is an error;
#   - paths outside the declared options (systemd.*, users.*, home.*) are free-form:
#     attrsets merge recursively, lists concatenate, other values must agree.
let
  inherit (builtins) attrNames concatLists concatStringsSep elem filter foldl' genList
    head isAttrs isBool isFunction isInt isList isPath isString length listToAttrs map
    mapAttrs replaceStrings stringLength substring tail throw toJSON;

  lib = rec {
    inherit attrNames concatStringsSep elem filter head isAttrs isList isString length map
      mapAttrs replaceStrings;

    # -- lists, attrsets and strings (same names and meanings as nixpkgs) --
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalString = cond: s: if cond then s else "";
    all = pred: foldl' (acc: x: acc && pred x) true;
    any = pred: foldl' (acc: x: acc || pred x) false;
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    concatMap = f: xs: concatLists (map f xs);
    concatMapStringsSep = sep: f: xs: concatStringsSep sep (map f xs);
    mapAttrsToList = f: a: map (n: f n a.${n}) (attrNames a);
    mapAttrs' = f: a: listToAttrs (mapAttrsToList f a);
    nameValuePair = name: value: { inherit name value; };
    genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
    hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
    hasInfix = infix: s:
      let
        n = stringLength infix;
        at = i: i + n <= stringLength s && (substring i n s == infix || at (i + 1));
      in at 0;
    removePrefix = pre: s:
      if hasPrefix pre s then substring (stringLength pre) (stringLength s) s else s;
    escapeShellArg = s: "'${replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
    escapeShellArgs = concatMapStringsSep " " escapeShellArg;
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    cleanSource = src: src;
    cleanSourceWith = { src, filter }: { inherit src filter; };
    licenses.mit = { spdxId = "MIT"; };

    # -- declarations and definitions --
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;

    # -- types: a name, a check of one value, a merge of the checked values --
    types =
      let
        mkType = name: check: { inherit name check; merge = mergeEqual; };
        mergeEqual = loc: values:
          if length values == 1 || all (v: v == head values) values then head values
          else throw "The option `${loc}' has conflicting definitions: ${toJSON values}";
        isDerivation = v: isAttrs v && (v ? outPath || (v.type or null) == "derivation");
      in
      rec {
        bool = mkType "boolean" isBool;
        str = mkType "string" isString;
        int = mkType "signed integer" isInt;
        port = mkType "16 bit unsigned integer" (v: isInt v && v >= 0 && v <= 65535);
        ints.unsigned = mkType "unsigned integer" (v: isInt v && v >= 0);
        path = mkType "path" (v: isPath v || (isString v && substring 0 1 v == "/"));
        package = mkType "package" isDerivation;
        enum = values: mkType "one of ${concatStringsSep ", " values}" (v: elem v values);
        nullOr = t: {
          name = "null or ${t.name}";
          check = v: v == null || t.check v;
          merge = loc: values: if all (v: v == null) values then null else t.merge loc values;
        };
        lines = {
          name = "lines";
          check = isString;
          merge = loc: values: concatStringsSep "\n" values;
        };
        listOf = t: {
          name = "list of ${t.name}";
          check = v: isList v && all t.check v;
          merge = loc: values: concatLists values;
        };
        attrsOf = t: {
          name = "attribute set of ${t.name}";
          check = isAttrs;
          merge = loc: values:
            let names = unique (concatMap attrNames values);
            in genAttrs names (n: mergeDefinitions "${loc}.${n}" { type = t; }
              (concatMap (v: if v ? ${n} then [ (wrap v.${n}) ] else [ ]) values));
        };
        submodule = m: {
          name = "submodule";
          check = isAttrs;
          merge = loc: values: evalTree loc m.options (map wrap values);
        };
      };

    # -- evaluation --
    #
    # A definition travels down the tree as { conds, priority, value }: the mkIf
    # conditions and the mkOverride priority met on the way, and the value at this
    # path. Carrying them (rather than re-wrapping the value in mkIf) means deciding
    # which names exist never forces a value, only conditions, so a value may be
    # computed from config (e.g. attribute names built from config.home.homeDirectory).
    wrap = value: { conds = [ ]; priority = 100; inherit value; };

    # A definition with its own mkIf/mkMerge/mkOverride opened up into plain ones.
    expand = d:
      let v = d.value; t = v._type or null; in
      if t == "if" then expand (d // { conds = d.conds ++ [ v.condition ]; value = v.content; })
      else if t == "merge" then concatMap (c: expand (d // { value = c; })) v.contents
      else if t == "override" then expand (d // { priority = v.priority; value = v.content; })
      else [ d ];

    live = d: all (c: c) d.conds;
    isTree = v: isAttrs v && !(v ? _type) && !(v ? outPath) && !isFunction v;

    # The values that count at a leaf: conditions hold, and the best priority wins.
    winners = defs:
      let
        flat = filter live (concatMap expand defs);
        best = foldl' (m: d: if d.priority < m then d.priority else m) 1500 flat;
      in
      map (d: d.value) (filter (d: d.priority == best) flat);

    # The merged value of one option from its definitions.
    mergeDefinitions = loc: opt: defs:
      let
        values = winners defs;
        bad = filter (v: !opt.type.check v) values;
      in
      if values == [ ] then
        (if opt ? default then opt.default
         else throw "The option `${loc}' is used but not defined.")
      else if bad != [ ] then
        throw "The option `${loc}' is not of type ${opt.type.name}: ${toJSON (head bad)}"
      else opt.type.merge loc values;

    # Free-form leaves: lists concatenate, anything else must agree.
    mergeFree = loc: defs:
      let values = winners defs; in
      if values == [ ] then throw "`${loc}' has no active definition"
      else if all isList values then concatLists values
      else if length values == 1 || all (v: v == head values) values then head values
      else throw "`${loc}' has conflicting definitions";

    # The value at `loc`: `decls` is an option, a namespace of declarations, or null
    # (not declared); `defs` are the definitions there.
    evalTree = loc: decls: defs:
      let
        sub = n: if loc == "" then n else "${loc}.${n}";
        opened = concatMap expand defs;
        trees = filter (d: isTree d.value) opened;
        defNames = unique (concatMap (d: attrNames d.value) trees);
        at = n: concatMap (d: if d.value ? ${n} then [ (d // { value = d.value.${n}; }) ] else [ ]) trees;
        declared = decls != null;
        # Below the root, a free-form name whose definitions are all switched off by
        # mkIf is absent, as an option left at its default would not show. (At the root
        # the names must not depend on conditions: those read config itself.)
        liveNames = if loc == "" || declared then defNames else filter (n: any live (at n)) defNames;
        names = unique ((if declared then attrNames decls else [ ]) ++ liveNames);
        undeclared = filter (n: declared && loc != "" && !(decls ? ${n})) defNames;
      in
      if declared && (decls._type or null) == "option" then mergeDefinitions loc decls defs
      else if undeclared != [ ] then throw "The option `${sub (head undeclared)}' does not exist."
      else if !declared && opened != [ ] && trees == [ ] then mergeFree loc defs
      else genAttrs names (n: evalTree (sub n) (if declared then decls.${n} or null else null) (at n));

    # Options of all modules merged into one tree of declarations.
    mergeDecls = a: b: foldl'
      (acc: n: acc // {
        ${n} =
          if acc ? ${n} && (b.${n}._type or null) != "option" && (acc.${n}._type or null) != "option"
          then mergeDecls acc.${n} b.${n}
          else if acc ? ${n} then throw "The option `${n}' is declared twice."
          else b.${n};
      })
      a
      (attrNames b);

    evalModules = { modules, specialArgs ? { } }:
      let
        args = { inherit config lib; options = decls; } // specialArgs;
        load = m:
          let
            f = if isPath m || isString m then import m else m;
            v = if isFunction f then f args else f;
            structured = v ? options || v ? config || v ? imports;
            self = if structured then v else { config = v; };
          in
          [ self ] ++ concatMap load (self.imports or [ ]);
        loaded = concatMap load modules;
        decls = foldl' mergeDecls { } (map (m: m.options or { }) loaded);
        config = evalTree "" decls (map (m: wrap (m.config or { })) loaded);
      in
      { inherit config; options = decls; };
  };
in
lib
