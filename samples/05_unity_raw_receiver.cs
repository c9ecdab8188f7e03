// Minimal C# receiver for pyavatar's raw OSC namespace (see docs/unity.md).
//
//   pyavatar live portrait.png --osc 127.0.0.1:9000
//
// In Unity: copy this file into Assets/, add the PyAvatarReceiver component to
// a GameObject, set `port` (9000), drag the face SkinnedMeshRenderer and the
// head bone in. The plain C# part (Osc, FaceState, Receiver) has no Unity
// dependency; build it with -define:PYAVATAR_SELFTEST to get a console program
// that decodes datagram files (used by pyavatar's tests).
//
// Messages (all numbers float32; angles in degrees; sides are the avatar's own):
//   /pyavatar/pose     head_yaw (left +) head_pitch (down +) head_roll (right ear down +) head_x head_y head_z
//   /pyavatar/face     the 25 fields of FaceState.Names, in that order
//   /pyavatar/viseme   aa ih ou ee oh speaking
//   /pyavatar/emotion  name intensity happy sad angry surprised relaxed
//   /pyavatar/stats    p50_ms p95_ms max_ms fps_in fps_out drops repeats
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace PyAvatar
{
    public struct OscMessage
    {
        public string Address;
        public object[] Args;
    }

    /// <summary>OSC 1.0 decoding of messages and (nested) bundles: types f, i, s, T, F.</summary>
    public static class Osc
    {
        static int Pad(int n) { return (n + 3) & ~3; }

        static string ReadString(byte[] d, ref int pos, int end)
        {
            int start = pos;
            while (pos < end && d[pos] != 0) pos++;
            if (pos >= end) throw new FormatException("unterminated OSC string");
            string s = Encoding.UTF8.GetString(d, start, pos - start);
            pos = start + Pad(pos - start + 1);
            return s;
        }

        static int ReadInt(byte[] d, int pos)
        {
            return (d[pos] << 24) | (d[pos + 1] << 16) | (d[pos + 2] << 8) | d[pos + 3];
        }

        static float ReadFloat(byte[] d, int pos)
        {
            byte[] b = { d[pos + 3], d[pos + 2], d[pos + 1], d[pos] };
            if (!BitConverter.IsLittleEndian) Array.Reverse(b);
            return BitConverter.ToSingle(b, 0);
        }

        public static List<OscMessage> Parse(byte[] data, int length)
        {
            var output = new List<OscMessage>();
            ParseInto(data, 0, length, output);
            return output;
        }

        static void ParseInto(byte[] d, int pos, int end, List<OscMessage> output)
        {
            if (end - pos >= 16 && Encoding.ASCII.GetString(d, pos, 8) == "#bundle\0")
            {
                pos += 16;  // tag + timetag
                while (pos + 4 <= end)
                {
                    int size = ReadInt(d, pos);
                    if (size <= 0 || pos + 4 + size > end) throw new FormatException("bad OSC bundle element");
                    ParseInto(d, pos + 4, pos + 4 + size, output);
                    pos += 4 + size;
                }
                return;
            }
            var msg = new OscMessage { Address = ReadString(d, ref pos, end) };
            string tags = pos < end ? ReadString(d, ref pos, end) : ",";
            var args = new List<object>();
            for (int i = 1; i < tags.Length; i++)
            {
                switch (tags[i])
                {
                    case 'f': args.Add(ReadFloat(d, pos)); pos += 4; break;
                    case 'i': args.Add(ReadInt(d, pos)); pos += 4; break;
                    case 's': args.Add(ReadString(d, ref pos, end)); break;
                    case 'T': args.Add(true); break;
                    case 'F': args.Add(false); break;
                    default: throw new FormatException("unsupported OSC type " + tags[i]);
                }
            }
            msg.Args = args.ToArray();
            output.Add(msg);
        }
    }

    /// <summary>The latest values of the raw namespace.</summary>
    public sealed class FaceState
    {
        public static readonly string[] Names = {
            "head_yaw", "head_pitch", "head_roll", "head_x", "head_y", "head_z", "jaw_open", "mouth_wide",
            "mouth_round", "smile_left", "smile_right", "mouth_frown", "brow_up_left", "brow_up_right", "brow_down",
            "blink_left", "blink_right", "eye_wide", "gaze_yaw", "gaze_pitch", "happy", "sad", "angry", "surprised",
            "relaxed",
        };
        public readonly float[] Face = new float[25];
        public readonly float[] Visemes = new float[6];
        public readonly float[] Stats = new float[7];
        public string Emotion = "neutral";
        public float Intensity;
        public int Messages;

        public float Get(string name) { return Face[Array.IndexOf(Names, name)]; }

        public void Apply(OscMessage m)
        {
            Messages++;
            switch (m.Address)
            {
                case "/pyavatar/face": Copy(m.Args, 0, Face); break;
                case "/pyavatar/viseme": Copy(m.Args, 0, Visemes); break;
                case "/pyavatar/stats": Copy(m.Args, 0, Stats); break;
                case "/pyavatar/pose": Copy(m.Args, 0, Face); break;  // the first six fields are the pose
                case "/pyavatar/emotion":
                    Emotion = (string)m.Args[0];
                    Intensity = (float)m.Args[1];
                    break;
            }
        }

        static void Copy(object[] src, int offset, float[] dst)
        {
            for (int i = 0; i < dst.Length && offset + i < src.Length; i++) dst[i] = (float)src[offset + i];
        }

        public FaceState Clone()
        {
            var c = new FaceState { Emotion = Emotion, Intensity = Intensity, Messages = Messages };
            Array.Copy(Face, c.Face, Face.Length);
            Array.Copy(Visemes, c.Visemes, Visemes.Length);
            Array.Copy(Stats, c.Stats, Stats.Length);
            return c;
        }
    }

    /// <summary>Receives on a UDP port in a background thread; Latest() returns a copy of the state.</summary>
    public sealed class Receiver : IDisposable
    {
        readonly UdpClient udp;
        readonly Thread thread;
        readonly FaceState state = new FaceState();
        readonly object sync = new object();
        volatile bool running = true;
        public int Malformed;

        public Receiver(int port)
        {
            udp = new UdpClient(new IPEndPoint(IPAddress.Any, port));
            udp.Client.ReceiveTimeout = 100;
            thread = new Thread(Run) { IsBackground = true, Name = "pyavatar-osc" };
            thread.Start();
        }

        void Run()
        {
            var from = new IPEndPoint(IPAddress.Any, 0);
            while (running)
            {
                byte[] data;
                try { data = udp.Receive(ref from); }
                catch (SocketException) { continue; }  // timeout: look at `running` again
                catch (ObjectDisposedException) { return; }
                try
                {
                    var msgs = Osc.Parse(data, data.Length);
                    lock (sync) foreach (var m in msgs) state.Apply(m);
                }
                catch (Exception) { Malformed++; }
            }
        }

        public FaceState Latest() { lock (sync) return state.Clone(); }

        public void Dispose()
        {
            running = false;
            udp.Close();
            thread.Join(1000);
        }
    }

#if UNITY_5_3_OR_NEWER
    /// <summary>Drives a head bone and blendshapes from the raw namespace.</summary>
    public class PyAvatarReceiver : UnityEngine.MonoBehaviour
    {
        public int port = 9000;
        public UnityEngine.Transform head;
        public UnityEngine.SkinnedMeshRenderer face;
        public string jawOpenShape = "jawOpen";
        public string blinkLeftShape = "eyeBlinkLeft";
        public string blinkRightShape = "eyeBlinkRight";
        Receiver receiver;

        void OnEnable() { receiver = new Receiver(port); }

        void OnDisable() { if (receiver != null) receiver.Dispose(); receiver = null; }

        void SetShape(string shape, float value)
        {
            if (face == null) return;
            int i = face.sharedMesh.GetBlendShapeIndex(shape);
            if (i >= 0) face.SetBlendShapeWeight(i, 100f * value);
        }

        void Update()
        {
            var s = receiver.Latest();
            if (head != null)  // pyavatar yaw left + / roll right-ear-down + -> Unity yaw - / roll -
                head.localRotation = UnityEngine.Quaternion.Euler(s.Get("head_pitch"), -s.Get("head_yaw"), -s.Get("head_roll"));
            SetShape(jawOpenShape, s.Get("jaw_open"));
            SetShape(blinkLeftShape, s.Get("blink_left"));
            SetShape(blinkRightShape, s.Get("blink_right"));
        }
    }
#endif

#if PYAVATAR_SELFTEST
    static class SelfTest
    {
        // Decodes each datagram file given and prints the resulting state.
        static int Main(string[] args)
        {
            var state = new FaceState();
            foreach (var path in args)
            {
                var data = System.IO.File.ReadAllBytes(path);
                foreach (var m in Osc.Parse(data, data.Length)) state.Apply(m);
            }
            Console.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "messages={0} jaw_open={1:F3} head_yaw={2:F2} emotion={3} intensity={4:F2} aa={5:F3} p95={6:F1}",
                state.Messages, state.Get("jaw_open"), state.Get("head_yaw"), state.Emotion, state.Intensity,
                state.Visemes[0], state.Stats[1]));
            return 0;
        }
    }
#endif
}
